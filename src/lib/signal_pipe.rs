//! The self-pipes through which signals reach a worker's I/O thread: a signal
//! handler writes a byte (signal-hook), the loop polls the read end. Installed by
//! the process that will run the loop (a forked worker, or `serve` in process).
use mio::net::UnixStream;
use std::io::{self, Read};

/// Signals a worker reacts to, delivered through pipes.
pub struct SignalPipe {
    pub graceful: UnixStream,
    pub immediate: UnixStream,
}

impl SignalPipe {
    /// Deliver the `graceful` signals (drain) and the `immediate` ones (stop now)
    /// through new pipes; returns the pipes and the registrations, which
    /// `signal_hook::low_level::unregister` undoes.
    pub fn install(
        graceful: &[std::ffi::c_int],
        immediate: &[std::ffi::c_int],
    ) -> io::Result<(SignalPipe, Vec<signal_hook::SigId>)> {
        let (graceful_read, graceful_write) = std::os::unix::net::UnixStream::pair()?;
        let (immediate_read, immediate_write) = std::os::unix::net::UnixStream::pair()?;
        for s in [
            &graceful_read,
            &graceful_write,
            &immediate_read,
            &immediate_write,
        ] {
            s.set_nonblocking(true)?;
        }
        let mut ids = Vec::new();
        for &sig in graceful {
            ids.push(signal_hook::low_level::pipe::register(
                sig,
                graceful_write.try_clone()?,
            )?);
        }
        for &sig in immediate {
            ids.push(signal_hook::low_level::pipe::register(
                sig,
                immediate_write.try_clone()?,
            )?);
        }
        let pipe = SignalPipe {
            graceful: UnixStream::from_std(graceful_read),
            immediate: UnixStream::from_std(immediate_read),
        };
        Ok((pipe, ids))
    }
}

/// Read a pipe to empty; returns how many signals it held.
pub fn drain(pipe: &mut UnixStream) -> usize {
    let mut buf = [0u8; 64];
    let mut total = 0;
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return total,
        }
    }
}
