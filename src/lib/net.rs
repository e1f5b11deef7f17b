//! Listening sockets: bind TCP (IPv4, IPv6 with IPV6_V6ONLY) and unix sockets with
//! Waitress's options (SO_REUSEADDR, backlog, non-blocking, close-on-exec), or adopt
//! the ones systemd passed (socket activation). Called by the master before any
//! worker exists; workers inherit the sockets across fork.
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// A bound, listening, non-blocking socket.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix {
        listener: UnixListener,
        path: PathBuf,
        /// We created the file (so we remove it at exit); false when inherited.
        owned: bool,
    },
}

impl Listener {
    /// "http://127.0.0.1:8080" or "unix:/run/app.sock" — the real port after port 0.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(SocketAddr::V4(a)) => format!("http://{}:{}", a.ip(), a.port()),
                Ok(SocketAddr::V6(a)) => format!("http://[{}]:{}", a.ip(), a.port()),
                Err(_) => "http://?".to_string(),
            },
            Listener::Unix { path, .. } => format!("unix:{}", path.display()),
        }
    }

    /// A copy for a worker (the same socket, another fd).
    pub fn try_clone(&self) -> io::Result<Listener> {
        Ok(match self {
            Listener::Tcp(l) => Listener::Tcp(l.try_clone()?),
            Listener::Unix { listener, path, .. } => Listener::Unix {
                listener: listener.try_clone()?,
                path: path.clone(),
                owned: false,
            },
        })
    }

    /// The port requests on this socket see as SERVER_PORT.
    pub fn port(&self) -> Option<u16> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok().map(|a| a.port()),
            Listener::Unix { .. } => None,
        }
    }
}

/// Bind and listen on one TCP address.
pub fn bind_tcp(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // "*" binds v4 and v6 separately; a v6 socket must not also take v4 traffic.
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Bind every configured address, in order, then the unix socket. The error names
/// the address.
pub fn bind_all(
    addrs: &[SocketAddr],
    unix: Option<(&Path, u32)>,
    backlog: i32,
) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    for addr in addrs {
        let l = bind_tcp(*addr, backlog).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        out.push(Listener::Tcp(l));
    }
    if let Some((path, mode)) = unix {
        out.push(bind_unix(path, mode, backlog)?);
    }
    Ok(out)
}

/// Bind a unix socket with `mode`. An existing file is replaced only if it is a
/// socket nobody answers on (a stale leftover), never a live server's.
pub fn bind_unix(path: &Path, mode: u32, backlog: i32) -> Result<Listener, String> {
    let shown = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(format!(
                "cannot listen on unix:{shown}: the path exists and is not a socket"
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "cannot listen on unix:{shown}: another server is listening there"
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove stale socket {shown}: {e}"))?;
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)
        .map_err(|e| format!("cannot create a unix socket: {e}"))?;
    let addr =
        socket2::SockAddr::unix(path).map_err(|e| format!("bad unix socket path {shown}: {e}"))?;
    socket
        .bind(&addr)
        .map_err(|e| format!("cannot listen on unix:{shown}: {e}"))?;
    // chmod the path (fchmod on a socket fd does not change the file's mode).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {shown}: {e}"))?;
    socket
        .listen(backlog)
        .map_err(|e| format!("cannot listen on unix:{shown}: {e}"))?;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(Listener::Unix {
        listener: UnixListener::from(std::os::fd::OwnedFd::from(socket)),
        path: path.to_path_buf(),
        owned: true,
    })
}

/// Adopt the `n` listening sockets systemd passed from fd 3 on.
pub fn adopt_systemd(n: usize) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    for i in 0..n {
        let fd = crate::systemd::LISTEN_FDS_START + i as i32;
        if nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err() {
            return Err(format!("LISTEN_FDS promised fd {fd}, but it is not open"));
        }
        let owned = crate::sys::adopt_fd(fd);
        let socket = Socket::from(owned);
        if !socket.is_listener().unwrap_or(false) {
            return Err(format!("fd {fd} from systemd is not a listening socket"));
        }
        socket.set_cloexec(true).map_err(|e| e.to_string())?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        if local.is_unix() {
            let path = local
                .as_pathname()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(format!("(fd {fd})")));
            out.push(Listener::Unix {
                listener: UnixListener::from(std::os::fd::OwnedFd::from(socket)),
                path,
                owned: false,
            });
        } else {
            out.push(Listener::Tcp(socket.into()));
        }
    }
    Ok(out)
}

/// Remove the unix socket files we created (master, at exit).
pub fn remove_socket_files(listeners: &[Listener]) {
    for l in listeners {
        if let Listener::Unix {
            path, owned: true, ..
        } = l
        {
            let _ = std::fs::remove_file(path);
        }
    }
}
