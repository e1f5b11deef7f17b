//! Byte storage with no protocol knowledge: request bodies that spill from memory to
//! an unlinked temp file (Waitress's `OverflowableBuffer`), and the segments a
//! response is made of (memory or a file region sent with sendfile).
pub mod segment;
pub mod spill;

pub use segment::{Segment, SpillWriter};
pub use spill::{BodyReader, SpillBuffer};
