//! `SpillBuffer`: a request body kept in memory until `inbuf_overflow`, then moved to
//! an unlinked temp file, so a 100 MiB upload costs no more than `inbuf_overflow` of
//! RSS. Written by the I/O thread while the body arrives; read by the app thread
//! through `BodyReader` once the request is complete.
use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

/// Where the body bytes are.
enum Storage {
    Memory(Vec<u8>),
    File(File),
}

pub struct SpillBuffer {
    storage: Storage,
    len: u64,
    overflow: u64,
}

impl SpillBuffer {
    /// `overflow`: the size above which the body moves to a temp file.
    pub fn new(overflow: u64) -> SpillBuffer {
        SpillBuffer {
            storage: Storage::Memory(Vec::new()),
            len: 0,
            overflow,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_spilled(&self) -> bool {
        matches!(self.storage, Storage::File(_))
    }

    /// Append body bytes; spills to a temp file when the total passes `overflow`.
    /// An error means the disk could not take the bytes (the request gets a 5xx).
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let new_len = self.len + data.len() as u64;
        if let Storage::Memory(mem) = &mut self.storage {
            if new_len <= self.overflow {
                mem.extend_from_slice(data);
                self.len = new_len;
                return Ok(());
            }
            // Move what we have to an unlinked temp file (tempfile() never leaves a
            // name behind, even if the process is killed).
            let mut file = tempfile::tempfile()?;
            file.write_all(mem)?;
            self.storage = Storage::File(file);
        }
        if let Storage::File(file) = &mut self.storage {
            file.write_all(data)?;
        }
        self.len = new_len;
        Ok(())
    }

    /// Finish writing and get a reader positioned at the start of the body.
    pub fn into_reader(self) -> io::Result<BodyReader> {
        Ok(match self.storage {
            Storage::Memory(mem) => BodyReader::Memory(Cursor::new(mem)),
            Storage::File(mut file) => {
                file.seek(SeekFrom::Start(0))?;
                BodyReader::File(io::BufReader::with_capacity(64 * 1024, file))
            }
        })
    }
}

/// The app thread's view of a complete request body. `read` returns 0 at the end.
pub enum BodyReader {
    Memory(Cursor<Vec<u8>>),
    File(io::BufReader<File>),
}

impl BodyReader {
    pub fn empty() -> BodyReader {
        BodyReader::Memory(Cursor::new(Vec::new()))
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BodyReader::Memory(c) => c.read(buf),
            BodyReader::File(f) => f.read(buf),
        }
    }
}

impl Seek for BodyReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            BodyReader::Memory(c) => c.seek(pos),
            BodyReader::File(f) => f.seek(pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_in_memory_up_to_overflow_then_spills() {
        let mut b = SpillBuffer::new(10);
        b.write(b"0123456789").unwrap();
        assert!(!b.is_spilled());
        b.write(b"abc").unwrap();
        assert!(b.is_spilled());
        assert_eq!(b.len(), 13);
        let mut out = Vec::new();
        b.into_reader().unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"0123456789abc");
    }

    #[test]
    fn empty_reads_zero() {
        let mut r = SpillBuffer::new(10).into_reader().unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }
}
