//! Listen specs: "HOST:PORT", "*:PORT", "[V6]:PORT" → socket addresses. Pure apart
//! from resolving host names (through the system's resolver).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// Resolve one `--listen` value to the addresses to bind (Waitress semantics:
/// `*` means every IPv4 and every IPv6 address; names resolve through the system).
pub fn resolve(spec: &str) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = split_host_port(spec)?;
    resolve_host_port(host, port)
}

/// Resolve a host (name, IP, `*`, or `[v6]`) and a port.
pub fn resolve_host_port(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host == "*" {
        return Ok(vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        ]);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host.is_empty() {
        return Err("empty host".to_string());
    }
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host:?}: {e}"))?
        .collect();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("{host:?} resolves to no address"));
    }
    Ok(addrs)
}

/// Split "host:port", "[v6]:port", "*:port" or a bare "port".
fn split_host_port(spec: &str) -> Result<(&str, u16), String> {
    let parse_port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("port {p:?} is not a number from 0 to 65535"))
    };
    if let Some(rest) = spec.strip_prefix('[') {
        let (h, tail) = rest
            .split_once(']')
            .ok_or_else(|| "missing ']' after an IPv6 address".to_string())?;
        let p = tail
            .strip_prefix(':')
            .ok_or_else(|| "expected ':PORT' after ']'".to_string())?;
        return Ok((h, parse_port(p)?));
    }
    match spec.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Ok((h, parse_port(p)?)),
        Some(_) => Err("an IPv6 address must be written in brackets, like [::1]:8080".into()),
        None => Ok(("0.0.0.0", parse_port(spec)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            resolve("127.0.0.1:8080").unwrap(),
            vec!["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(
            resolve("[::1]:0").unwrap(),
            vec!["[::1]:0".parse().unwrap()]
        );
        assert_eq!(resolve("*:80").unwrap().len(), 2);
        assert_eq!(
            resolve("8080").unwrap(),
            vec!["0.0.0.0:8080".parse().unwrap()]
        );
        assert!(resolve("::1:80").is_err());
        assert!(resolve("127.0.0.1:http").is_err());
        assert!(resolve("[::1]80").is_err());
        assert!(resolve("127.0.0.1:70000").is_err());
    }
}
