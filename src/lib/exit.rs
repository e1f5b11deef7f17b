//! Every process exit code waitressd uses, in one place.
//!
//! The binary maps errors to these; the master (a later layer) reads a worker's code
//! to decide whether respawning can help. Codes follow gunicorn's convention where it
//! has one (3 = the app could not boot) and the CLI convention for usage errors (2).

/// A process exit code with a meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Clean shutdown.
    Ok = 0,
    /// A runtime failure that is not the app's fault (e.g. a listener could not be bound).
    Failure = 1,
    /// Bad command line or configuration: one line names the setting and the value.
    Usage = 2,
    /// The app could not be loaded or its init failed: respawning will not help.
    AppBoot = 3,
}

impl Code {
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}
