//! The engine's pure half: bytes in, values out. Request heads (`head`), bodies
//! (`body`), response framing (`response`), the request-error map (`error`), dates
//! and the CGI view (`environ`). No file descriptors, threads or clocks here.
pub mod body;
pub mod date;
pub mod environ;
pub mod error;
pub mod head;
pub mod proxy;
pub mod response;

pub use body::{BodyDecoder, Decoded};
pub use error::{ErrorResponse, Malformed, RequestError, Unsupported};
pub use head::{parse_head, BodyKind, HeadScan, Limits, ParseStatus, RequestHead, Version};
