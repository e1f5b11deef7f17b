//! The small libc surface that needs `unsafe`, each call a safe function with its
//! contract stated once.
#![allow(unsafe_code)]

/// Leave the process now with `code`, without running atexit handlers or static
/// destructors: app.so's destructors must not race its own threads (the ABI
/// promises `_exit` after `shutdown`). Flush what must be flushed first.
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stderr().flush();
    let _ = std::io::stdout().flush();
    // SAFETY: _exit is async-signal-safe and takes no pointers; it never returns.
    unsafe { libc::_exit(code) }
}
