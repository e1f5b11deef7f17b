//! The chunked decoder on arbitrary bytes: never panics, never consumes more than
//! it is given, and decoding in two pieces (split at the first byte's value) gives
//! what decoding at once gives.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waitressd::http::{BodyDecoder, BodyKind};

fn decode(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool), u16> {
    let mut d = BodyDecoder::new(BodyKind::Chunked, 1 << 20).unwrap();
    let mut body = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for piece in pieces {
        pending.extend_from_slice(piece);
        loop {
            let r = d.decode(&pending).map_err(|e| e.status())?;
            assert!(r.consumed <= pending.len());
            body.extend_from_slice(r.data);
            let (consumed, done) = (r.consumed, r.done);
            pending.drain(..consumed);
            if done {
                return Ok((body, true));
            }
            if consumed == 0 {
                break;
            }
        }
    }
    Ok((body, false))
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(&[data]);
    if data.is_empty() {
        return;
    }
    let at = data[0] as usize % (data.len() + 1);
    let (a, b) = data.split_at(at);
    assert_eq!(decode(&[a, b]), whole);
});
