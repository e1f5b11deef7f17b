//! systemd integration without libsystemd: sd_notify messages over $NOTIFY_SOCKET
//! (READY=1, RELOADING=1, STOPPING=1, STATUS=, WATCHDOG=1) and socket activation
//! ($LISTEN_FDS). Master process only.
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The first fd systemd passes (SD_LISTEN_FDS_START).
pub const LISTEN_FDS_START: i32 = 3;

/// A connection to the service manager, or nothing when not run by systemd.
pub struct Notifier {
    socket: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Read $NOTIFY_SOCKET and $WATCHDOG_USEC (and forget them, so workers and apps
    /// do not inherit them).
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let path = path.to_string_lossy().into_owned();
            let addr = if let Some(name) = path.strip_prefix('@') {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?
            } else {
                std::os::unix::net::SocketAddr::from_pathname(&path).ok()?
            };
            let sock = UnixDatagram::unbound().ok()?;
            Some((sock, addr))
        });
        let pid_matches = std::env::var("WATCHDOG_PID")
            .map(|p| p.trim() == std::process::id().to_string())
            .unwrap_or(true);
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&us| us > 0 && pid_matches)
            .map(Duration::from_micros);
        for var in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            std::env::remove_var(var);
        }
        Notifier { socket, watchdog }
    }

    /// How often to send WATCHDOG=1 (half the manager's timeout), if it asked.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    /// Send one notification (newline-separated KEY=VALUE assignments).
    pub fn notify(&self, state: &str) {
        if let Some((sock, addr)) = &self.socket {
            if let Err(e) = sock.send_to_addr(state.as_bytes(), addr) {
                log::warn!("sd_notify failed: {e}");
            }
        }
    }

    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={status}"));
    }

    /// Workers are booting: systemd's start timeout is extended to cover `may_take`, so
    /// a --boot-timeout longer than TimeoutStartSec is not cut short by the manager.
    pub fn booting(&self, may_take: Duration) {
        self.notify(&format!(
            "EXTEND_TIMEOUT_USEC={}\nSTATUS=booting workers",
            may_take.as_micros()
        ));
    }

    /// A reload began; it may take `may_take` (the new generation's boot).
    pub fn reloading(&self, may_take: Duration) {
        self.notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nEXTEND_TIMEOUT_USEC={}\nSTATUS=reloading",
            monotonic_usec(),
            may_take.as_micros()
        ));
    }

    /// Shutdown began; draining may take `may_take` (--graceful-timeout and reaping),
    /// which may be longer than the unit's TimeoutStopSec.
    pub fn stopping(&self, may_take: Duration) {
        self.notify(&format!(
            "STOPPING=1\nEXTEND_TIMEOUT_USEC={}\nSTATUS=stopping",
            may_take.as_micros()
        ));
    }

    pub fn status(&self, status: &str) {
        self.notify(&format!("STATUS={status}"));
    }

    pub fn watchdog(&self) {
        self.notify("WATCHDOG=1");
    }
}

/// CLOCK_MONOTONIC in microseconds (what RELOADING=1 must carry).
fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

/// How many sockets systemd passed to this process ($LISTEN_PID must be us).
/// Clears the variables so they do not leak to children.
pub fn listen_fds() -> usize {
    let ours = std::env::var("LISTEN_PID")
        .map(|p| p.trim() == std::process::id().to_string())
        .unwrap_or(false);
    let n = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
    if ours {
        n
    } else {
        0
    }
}
