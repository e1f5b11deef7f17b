//! The pieces a response is sent in: bytes in memory, or a region of a file that the
//! I/O thread hands to sendfile(2). `SpillWriter` moves output past `outbuf_overflow`
//! to a temp file (Waitress spills its outbuf the same way) so a fast producer and a
//! slow reader cost disk, not RSS.
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// One piece of output, in order.
#[derive(Debug)]
pub enum Segment {
    /// Bytes in memory; `pos` of them were already written.
    Memory { data: Vec<u8>, pos: usize },
    /// `remaining` bytes of `file` starting at `offset` (explicit offsets: the file's
    /// own position is never used, so one file can back many segments).
    File {
        file: File,
        offset: u64,
        remaining: u64,
    },
}

impl Segment {
    pub fn memory(data: Vec<u8>) -> Segment {
        Segment::Memory { data, pos: 0 }
    }

    /// Bytes still to send.
    pub fn remaining(&self) -> u64 {
        match self {
            Segment::Memory { data, pos } => (data.len() - pos) as u64,
            Segment::File { remaining, .. } => *remaining,
        }
    }

    /// Bytes of memory this segment holds (what counts against `outbuf_overflow`).
    pub fn memory_bytes(&self) -> u64 {
        match self {
            Segment::Memory { data, pos } => (data.len() - pos) as u64,
            Segment::File { .. } => 0,
        }
    }
}

/// Appends output to an unlinked temp file and hands out segments over it.
/// Owned by the app thread producing one response; created on first use.
#[derive(Default)]
pub struct SpillWriter {
    file: Option<File>,
    end: u64,
}

impl SpillWriter {
    /// Write `data` at the end of the spill file and return the segment covering it.
    pub fn spill(&mut self, data: &[u8]) -> io::Result<Segment> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile()?),
        };
        file.write_all_at(data, self.end)?;
        let segment = Segment::File {
            file: file.try_clone()?,
            offset: self.end,
            remaining: data.len() as u64,
        };
        self.end += data.len() as u64;
        Ok(segment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_segments_cover_what_was_written() {
        let mut w = SpillWriter::default();
        let a = w.spill(b"hello").unwrap();
        let b = w.spill(b"world!").unwrap();
        match (&a, &b) {
            (
                Segment::File {
                    file,
                    offset: 0,
                    remaining: 5,
                },
                Segment::File {
                    offset: 5,
                    remaining: 6,
                    ..
                },
            ) => {
                let mut buf = [0u8; 11];
                file.read_exact_at(&mut buf, 0).unwrap();
                assert_eq!(&buf, b"helloworld!");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(a.memory_bytes(), 0);
        assert_eq!(Segment::memory(b"abc".to_vec()).remaining(), 3);
    }
}
