//! Byte storage with no protocol knowledge: request bodies that spill from memory to
//! an unlinked temp file (Waitress's `OverflowableBuffer`), the segments a response
//! is made of (memory or a file region sent with sendfile), and the queue of them
//! that waits for a socket.
pub mod outq;
pub mod segment;
pub mod spill;

pub use outq::{OutQueue, Sink};
pub use segment::{Segment, SpillWriter};
pub use spill::{BodyReader, SpillBuffer};
