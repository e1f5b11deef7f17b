//! Listening sockets: bind TCP (IPv4, IPv6 with IPV6_V6ONLY) and unix sockets with
//! Waitress's options (SO_REUSEADDR, backlog, non-blocking, close-on-exec). Called by
//! the process that binds (the master, or the single-process server) before any
//! worker runs.
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

/// A bound, listening, non-blocking socket.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix {
        listener: UnixListener,
        path: PathBuf,
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

/// Bind every configured address, in order. The error names the address.
pub fn bind_all(addrs: &[SocketAddr], backlog: i32) -> Result<Vec<Listener>, String> {
    addrs
        .iter()
        .map(|addr| {
            bind_tcp(*addr, backlog)
                .map(Listener::Tcp)
                .map_err(|e| format!("cannot listen on {addr}: {e}"))
        })
        .collect()
}
