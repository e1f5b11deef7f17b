//! Trusted proxy headers, exactly as Waitress 3.0.2 handles them
//! (`waitress/proxy_headers.py`): for a request from a trusted proxy, the trusted
//! `Forwarded` or `X-Forwarded-*` headers set REMOTE_ADDR/PORT, the URL scheme,
//! SERVER_NAME/PORT and HTTP_HOST, counting `trusted_proxy_count` hops from the
//! right; the trusted headers the app sees are rewritten to hold only those hops
//! (the 3.0.2 security fix); untrusted proxy headers are removed. Pure: the caller
//! logs the notes and turns `Malformed` into a 400.
use std::collections::BTreeSet;

// The settings are config's (validated there, read by every layer); `worker::task`
// names them by this path too.
pub use crate::config::proxy::{ProxyConfig, PROXY_HEADERS};

/// The part of the request environment proxy headers may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub remote_addr: String,
    pub remote_port: String,
    pub url_scheme: String,
    pub server_name: String,
    pub server_port: String,
    /// The request's headers: lower-case names, arrival order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A trusted header that cannot be parsed: the request gets a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// As Waitress names it, e.g. "X-Forwarded-Proto" or "Forwarded Proto=".
    pub header: String,
    pub reason: String,
    pub value: String,
}

/// Things worth a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    UnknownForwardedToken(String),
    /// Untrusted proxy headers removed (only reported with log_untrusted).
    RemovedUntrusted(Vec<String>),
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn to_latin1(s: &str) -> Vec<u8> {
    s.chars().map(|c| c as u32 as u8).collect()
}

impl View {
    /// All values of a header joined with ", " (as Waitress's environ has them).
    fn get(&self, name: &str) -> Option<String> {
        let values: Vec<String> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| latin1(v))
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    fn set(&mut self, name: &str, value: &str) {
        match self.headers.iter().position(|(n, _)| n == name.as_bytes()) {
            Some(first) => {
                self.headers[first].1 = to_latin1(value);
                let mut i = first + 1;
                while i < self.headers.len() {
                    if self.headers[i].0 == name.as_bytes() {
                        self.headers.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => self
                .headers
                .push((name.as_bytes().to_vec(), to_latin1(value))),
        }
    }

    fn remove(&mut self, name: &str) -> bool {
        let before = self.headers.len();
        self.headers.retain(|(n, _)| n != name.as_bytes());
        before != self.headers.len()
    }
}

/// Whether the peer at `remote_addr` is the trusted proxy.
fn is_trusted(cfg: &ProxyConfig, remote_addr: &str) -> bool {
    match cfg.trusted_proxy.as_deref() {
        Some("*") => true,
        Some(proxy) => proxy == remote_addr,
        None => false,
    }
}

/// Whether `apply` can change anything for a request from `remote_addr` whose field
/// names are `names`: only for the trusted proxy, or when untrusted proxy headers are
/// cleared and the request has one. The common request (no proxy configured, or
/// none of its headers) skips building a `View` at all.
pub fn has_work<'a>(
    cfg: &ProxyConfig,
    remote_addr: &str,
    mut names: impl Iterator<Item = &'a [u8]>,
) -> bool {
    is_trusted(cfg, remote_addr)
        || (cfg.clear_untrusted
            && names.any(|name| PROXY_HEADERS.iter().any(|p| p.as_bytes() == name)))
}

/// Apply the proxy rules to one request's view.
pub fn apply(cfg: &ProxyConfig, view: &mut View) -> Result<Vec<Note>, Malformed> {
    let mut notes = Vec::new();
    let untrusted: BTreeSet<&str> = if is_trusted(cfg, &view.remote_addr) {
        parse_proxy_headers(cfg, view, &mut notes)?
    } else {
        PROXY_HEADERS.iter().copied().collect()
    };
    if cfg.clear_untrusted {
        let removed: Vec<String> = untrusted
            .iter()
            .filter(|h| view.remove(h))
            .map(|h| waitressd_sdk::rules::capitalize(h.as_bytes()))
            .collect();
        if cfg.log_untrusted && !removed.is_empty() {
            notes.push(Note::RemovedUntrusted(removed));
        }
    }
    Ok(notes)
}

fn malformed(header: &str, reason: impl Into<String>, value: &str) -> Malformed {
    Malformed {
        header: header.to_string(),
        reason: reason.into(),
        value: value.to_string(),
    }
}

/// The last `count` items (Python's `items[-count:]`).
fn last<T: Clone>(items: &[T], count: usize) -> Vec<T> {
    items[items.len().saturating_sub(count)..].to_vec()
}

/// Waitress `parse_proxy_headers`: returns the proxy headers left untrusted.
fn parse_proxy_headers(
    cfg: &ProxyConfig,
    view: &mut View,
    notes: &mut Vec<Note>,
) -> Result<BTreeSet<&'static str>, Malformed> {
    let trusted = |h: &str| cfg.trusted_proxy_headers.contains(h);
    let count = cfg.trusted_proxy_count.max(1);
    let mut untrusted: BTreeSet<&'static str> = PROXY_HEADERS.iter().copied().collect();
    let mut client_addr: Option<String> = None;
    let mut forwarded_host = String::new();
    let mut forwarded_proto = String::new();
    let mut forwarded_port = String::new();

    if trusted("x-forwarded-for") {
        if let Some(raw) = view.get("x-forwarded-for") {
            let hops: Vec<&str> = raw.split(',').collect();
            let mut parsed = Vec::new();
            for hop in &hops {
                let hop =
                    undquote(hop.trim()).map_err(|why| malformed("X-Forwarded-For", why, &raw))?;
                // An IPv6 address without brackets gets them (no port assumed).
                if !hop.contains('.') && hop.contains(':') && !hop.ends_with(']') {
                    parsed.push(format!("[{hop}]"));
                } else {
                    parsed.push(hop);
                }
            }
            let kept = last(&parsed, count);
            client_addr = kept.first().cloned();
            untrusted.remove("x-forwarded-for");
            view.set("x-forwarded-for", last(&hops, count).join(",").trim());
        }
    }

    if trusted("x-forwarded-host") {
        if let Some(raw) = view.get("x-forwarded-host") {
            let hosts: Vec<&str> = raw.split(',').collect();
            let mut parsed = Vec::new();
            for host in &hosts {
                parsed.push(
                    undquote(host.trim())
                        .map_err(|why| malformed("X-Forwarded-Host", why, &raw))?,
                );
            }
            forwarded_host = last(&parsed, count).first().cloned().unwrap_or_default();
            untrusted.remove("x-forwarded-host");
            view.set("x-forwarded-host", last(&hosts, count).join(",").trim());
        }
    }

    if trusted("x-forwarded-proto") {
        let raw = view.get("x-forwarded-proto").unwrap_or_default();
        forwarded_proto =
            undquote(&raw).map_err(|why| malformed("X-Forwarded-Proto", why, &raw))?;
        if forwarded_proto.contains(',') {
            return Err(malformed(
                "X-Forwarded-Proto",
                "Unspecified behavior for multiple values found in header",
                &raw,
            ));
        }
        untrusted.remove("x-forwarded-proto");
    }

    if trusted("x-forwarded-port") {
        let raw = view.get("x-forwarded-port").unwrap_or_default();
        forwarded_port = undquote(&raw).map_err(|why| malformed("X-Forwarded-Port", why, &raw))?;
        if forwarded_port.contains(',') {
            return Err(malformed(
                "X-Forwarded-Port",
                "Unspecified behavior for multiple values found in header",
                &raw,
            ));
        }
        untrusted.remove("x-forwarded-port");
    }

    if trusted("x-forwarded-by") {
        // Not used by the server, but it is the app's to see.
        untrusted.remove("x-forwarded-by");
    }

    let mut forwarded = None;
    if trusted("forwarded") {
        forwarded = view.get("forwarded").filter(|f| !f.is_empty());
        untrusted = PROXY_HEADERS
            .iter()
            .copied()
            .filter(|h| *h != "forwarded")
            .collect();
    }

    // The Forwarded header, if present, takes priority.
    if let Some(raw) = &forwarded {
        let elements: Vec<&str> = raw.split(',').collect();
        let mut proxies = Vec::new();
        for element in &elements {
            proxies.push(
                parse_forwarded_element(element.trim(), notes)
                    .map_err(|why| malformed("Forwarded", why, raw))?,
            );
        }
        let proxies = last(&proxies, count);
        view.set("forwarded", last(&elements, count).join(",").trim());
        // The oldest trusted entry that has a value wins: intermediate proxies may
        // rewrite host or proto, the first one saw what the client asked for.
        for p in proxies.iter().rev() {
            if !p.for_.is_empty() {
                client_addr = Some(p.for_.clone());
            }
            if !p.host.is_empty() {
                forwarded_host = p.host.clone();
            }
            if !p.proto.is_empty() {
                forwarded_proto = p.proto.clone();
            }
        }
    }

    if !forwarded_proto.is_empty() {
        forwarded_proto = forwarded_proto.to_lowercase();
        if forwarded_proto != "http" && forwarded_proto != "https" {
            let header = if forwarded.is_some() {
                "Forwarded Proto="
            } else {
                "X-Forwarded-Proto"
            };
            return Err(malformed(
                header,
                "unsupported proto value",
                &forwarded_proto,
            ));
        }
        view.url_scheme = forwarded_proto.clone();
        if forwarded_port.is_empty() {
            forwarded_port = if forwarded_proto == "https" {
                "443"
            } else {
                "80"
            }
            .to_string();
        }
    }

    if !forwarded_host.is_empty() {
        if forwarded_host.contains(':') && !forwarded_host.ends_with(']') {
            let (host, port) = forwarded_host
                .rsplit_once(':')
                .unwrap_or((forwarded_host.as_str(), ""));
            // The port in the forwarded host beats X-Forwarded-Port and the proto's.
            forwarded_port = port.to_string();
            view.server_name = host.trim().to_string();
            view.set("host", &forwarded_host);
        } else {
            view.server_name = forwarded_host.clone();
            let host = match forwarded_port.as_str() {
                "" => forwarded_host.clone(),
                "80" if view.url_scheme == "http" => forwarded_host.clone(),
                "443" if view.url_scheme == "https" => forwarded_host.clone(),
                port => format!("{forwarded_host}:{port}"),
            };
            view.set("host", &host);
        }
    }

    if !forwarded_port.is_empty() {
        view.server_port = forwarded_port;
    }

    if let Some(addr) = client_addr.filter(|a| !a.is_empty()) {
        if addr.contains(':') && !addr.ends_with(']') {
            let (a, port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), ""));
            view.remote_addr = strip_brackets(a.trim());
            view.remote_port = port.trim().to_string();
        } else {
            view.remote_addr = strip_brackets(addr.trim());
        }
    }
    Ok(untrusted)
}

#[derive(Clone)]
struct ForwardedEntry {
    for_: String,
    host: String,
    proto: String,
}

/// One comma-separated element of `Forwarded` (RFC 7239 §4), Waitress's way: pairs
/// lower-cased, no whitespace around tokens or values, quoted values unquoted.
fn parse_forwarded_element(element: &str, notes: &mut Vec<Note>) -> Result<ForwardedEntry, String> {
    let mut entry = ForwardedEntry {
        for_: String::new(),
        host: String::new(),
        proto: String::new(),
    };
    for pair in element.split(';') {
        let pair = pair.to_lowercase();
        if pair.is_empty() {
            continue;
        }
        let Some((token, value)) = pair.split_once('=') else {
            return Err("Invalid forwarded-pair missing \"=\"".into());
        };
        if token.trim() != token {
            return Err("Token may not be surrounded by whitespace".into());
        }
        if value.trim() != value {
            return Err("Value may not be surrounded by whitespace".into());
        }
        match token {
            "by" => {
                undquote(value)?;
            }
            "for" => entry.for_ = undquote(value)?,
            "host" => entry.host = undquote(value)?,
            "proto" => entry.proto = undquote(value)?,
            other => notes.push(Note::UnknownForwardedToken(other.to_string())),
        }
    }
    Ok(entry)
}

fn strip_brackets(addr: &str) -> String {
    addr.strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr)
        .to_string()
}

/// Waitress `utilities.undquote`: a whole quoted-string is unquoted (quoted-pairs
/// unescaped); an unquoted value is kept; anything half-quoted is an error.
pub fn undquote(value: &str) -> Result<String, String> {
    let starts = value.starts_with('"');
    let ends = value.ends_with('"');
    if !starts && !ends {
        return Ok(value.to_string());
    }
    let bad = || Err("Invalid quoting in value".to_string());
    if !(starts && ends) || value.len() < 2 {
        return bad();
    }
    let inner: Vec<char> = value[1..value.len() - 1].chars().collect();
    let obs = |c: char| ('\u{80}'..='\u{ff}').contains(&c);
    let qdtext = |c: char| {
        c == '\t'
            || c == ' '
            || c == '!'
            || ('#'..='[').contains(&c)
            || (']'..='~').contains(&c)
            || obs(c)
    };
    let pair_char = |c: char| c == '\t' || c == ' ' || ('!'..='~').contains(&c) || obs(c);
    let mut out = String::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        if c == '\\' {
            match inner.get(i + 1) {
                Some(&n) if pair_char(n) => {
                    out.push(n);
                    i += 2;
                }
                _ => return bad(),
            }
        } else if qdtext(c) {
            out.push(c);
            i += 1;
        } else {
            return bad();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Waitress's tests/test_proxy_headers.py, case by case.
    use super::*;

    fn cfg(proxy: &str, count: usize, headers: &[&str]) -> ProxyConfig {
        ProxyConfig {
            trusted_proxy: Some(proxy.to_string()),
            trusted_proxy_count: count,
            trusted_proxy_headers: headers.iter().map(|s| s.to_string()).collect(),
            clear_untrusted: true,
            log_untrusted: false,
        }
    }

    /// Waitress's DummyEnviron: peer 127.0.0.1:8080, SERVER_NAME localhost,
    /// Host 192.168.1.1:80, scheme http.
    fn view(addr: (&str, u16), headers: &[(&str, &str)]) -> View {
        let mut h: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"host".to_vec(), b"192.168.1.1:80".to_vec())];
        for (n, v) in headers {
            h.push((n.as_bytes().to_vec(), v.as_bytes().to_vec()));
        }
        View {
            remote_addr: addr.0.to_string(),
            remote_port: addr.1.to_string(),
            url_scheme: "http".into(),
            server_name: "localhost".into(),
            server_port: addr.1.to_string(),
            headers: h,
        }
    }

    const LOCAL: (&str, u16) = ("127.0.0.1", 8080);

    fn run(c: &ProxyConfig, v: &mut View) -> Result<Vec<Note>, Malformed> {
        apply(c, v)
    }

    fn h(v: &View, name: &str) -> Option<String> {
        v.get(name)
    }

    #[test]
    fn has_work_only_where_apply_changes_something() {
        let configs = [
            ProxyConfig::default(),
            ProxyConfig {
                clear_untrusted: true,
                ..Default::default()
            },
            cfg("10.0.0.1", 1, &["x-forwarded-for"]),
            cfg("127.0.0.1", 1, &["x-forwarded-for"]),
        ];
        let requests: [&[(&str, &str)]; 3] = [
            &[("x-foo", "BAR")],
            &[("x-forwarded-for", "1.2.3.4")],
            &[("forwarded", "for=1.2.3.4")],
        ];
        for c in &configs {
            for headers in requests {
                let before = view(LOCAL, headers);
                let work = has_work(
                    c,
                    &before.remote_addr,
                    before.headers.iter().map(|(n, _)| n.as_slice()),
                );
                let mut after = before.clone();
                apply(c, &mut after).unwrap();
                if !work {
                    assert_eq!(after, before, "{c:?} {headers:?}");
                }
            }
        }
        let plain = view(LOCAL, &[("x-forwarded-for", "1.2.3.4")]);
        let names_of = || plain.headers.iter().map(|(n, _)| n.as_slice());
        assert!(!has_work(&ProxyConfig::default(), "127.0.0.1", names_of()));
        assert!(has_work(&configs[1], "127.0.0.1", names_of()));
        assert!(!has_work(
            &configs[1],
            "127.0.0.1",
            [&b"x-foo"[..]].into_iter()
        ));
        assert!(has_work(
            &configs[3],
            "127.0.0.1",
            [&b"x-foo"[..]].into_iter()
        ));
        assert!(!has_work(
            &configs[2],
            "127.0.0.1",
            [&b"x-foo"[..]].into_iter()
        ));
    }

    #[test]
    fn scheme_override_untrusted() {
        let c = ProxyConfig {
            clear_untrusted: true,
            ..Default::default()
        };
        let mut v = view(LOCAL, &[("x-foo", "BAR"), ("x-forwarded-proto", "https")]);
        run(&c, &mut v).unwrap();
        assert_eq!(v.url_scheme, "http");
        assert_eq!(h(&v, "x-forwarded-proto"), None, "cleared by default");
    }

    #[test]
    fn scheme_override_trusted() {
        let c = cfg("192.168.1.1", 1, &["x-forwarded-proto"]);
        let mut v = view(
            ("192.168.1.1", 8080),
            &[("x-foo", "BAR"), ("x-forwarded-proto", "https")],
        );
        run(&c, &mut v).unwrap();
        assert_eq!(v.server_port, "443");
        assert_eq!(v.server_name, "localhost");
        assert_eq!(v.remote_addr, "192.168.1.1");
        assert_eq!(h(&v, "x-foo").as_deref(), Some("BAR"));
    }

    #[test]
    fn bogus_scheme_override() {
        let c = cfg("192.168.1.1", 1, &["x-forwarded-proto"]);
        let mut v = view(
            ("192.168.1.1", 80),
            &[("x-forwarded-proto", "http://p02n3e.com?url=http")],
        );
        assert_eq!(run(&c, &mut v).unwrap_err().header, "X-Forwarded-Proto");
    }

    #[test]
    fn other_proxy_headers_are_cleared_when_forwarded_is_trusted() {
        let mut c = cfg("192.168.1.1", 1, &["forwarded"]);
        c.log_untrusted = true;
        let mut v = view(
            ("192.168.1.1", 80),
            &[
                ("x-forwarded-for", "[2001:db8::1]"),
                (
                    "forwarded",
                    "For=198.51.100.2;host=example.com:8080;proto=https",
                ),
            ],
        );
        let notes = run(&c, &mut v).unwrap();
        assert_eq!(
            notes,
            vec![Note::RemovedUntrusted(vec!["X-Forwarded-For".into()])]
        );
        assert_eq!(h(&v, "x-forwarded-for"), None);
        assert_eq!(v.remote_addr, "198.51.100.2");
        assert_eq!(v.server_name, "example.com");
        assert_eq!(h(&v, "host").as_deref(), Some("example.com:8080"));
        assert_eq!(v.server_port, "8080");
        assert_eq!(v.url_scheme, "https");
    }

    #[test]
    fn contains_all_headers_including_untrusted_when_not_clearing() {
        let mut c = cfg("192.168.1.1", 1, &["x-forwarded-by"]);
        c.clear_untrusted = false;
        let hs = [
            ("x-forwarded-for", "198.51.100.2"),
            ("x-forwarded-by", "Waitress"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "example.org"),
        ];
        let mut v = view(("192.168.1.1", 80), &hs);
        run(&c, &mut v).unwrap();
        for (n, val) in hs {
            assert_eq!(h(&v, n).as_deref(), Some(val));
        }
    }

    #[test]
    fn contains_only_trusted_headers() {
        let c = cfg("192.168.1.1", 1, &["x-forwarded-by"]);
        let mut v = view(
            ("192.168.1.1", 80),
            &[
                ("x-forwarded-for", "198.51.100.2"),
                ("x-forwarded-by", "Waitress"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "example.org"),
            ],
        );
        run(&c, &mut v).unwrap();
        assert_eq!(v.remote_addr, "192.168.1.1");
        assert_eq!(h(&v, "x-forwarded-by").as_deref(), Some("Waitress"));
        for n in ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"] {
            assert_eq!(h(&v, n), None, "{n}");
        }
    }

    #[test]
    fn clears_headers_if_untrusted_proxy() {
        let c = cfg("192.168.1.1", 1, &["x-forwarded-by"]);
        let mut v = view(
            ("192.168.1.255", 80),
            &[
                ("x-forwarded-for", "198.51.100.2"),
                ("x-forwarded-by", "Waitress"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "example.org"),
            ],
        );
        run(&c, &mut v).unwrap();
        for n in [
            "x-forwarded-by",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
        ] {
            assert_eq!(h(&v, n), None, "{n}");
        }
    }

    #[test]
    fn forwarded_for() {
        let c = cfg("*", 1, &["x-forwarded-for"]);
        let mut v = view(LOCAL, &[("x-forwarded-for", "192.0.2.1")]);
        run(&c, &mut v).unwrap();
        assert_eq!(v.remote_addr, "192.0.2.1");
    }

    #[test]
    fn forwarded_for_v6_missing_brackets() {
        let c = cfg("*", 1, &["x-forwarded-for"]);
        let mut v = view(LOCAL, &[("x-forwarded-for", "2001:db8::0")]);
        run(&c, &mut v).unwrap();
        assert_eq!(v.remote_addr, "2001:db8::0");
    }

    #[test]
    fn forwarded_for_multiple() {
        let c = cfg("*", 2, &["x-forwarded-for"]);
        let mut v = view(
            LOCAL,
            &[("x-forwarded-for", "192.0.2.1, 198.51.100.2, 203.0.113.1")],
        );
        run(&c, &mut v).unwrap();
        assert_eq!(v.remote_addr, "198.51.100.2");
        assert_eq!(
            h(&v, "x-forwarded-for").as_deref(),
            Some("198.51.100.2, 203.0.113.1")
        );
    }

    #[test]
    fn forwarded_multiple_proxies_trust_only_two() {
        let c = cfg("*", 2, &["forwarded"]);
        let mut v = view(
            LOCAL,
            &[(
                "forwarded",
                "For=192.0.2.1;host=fake.com, For=198.51.100.2;host=example.com:8080, For=203.0.113.1",
            )],
        );
        run(&c, &mut v).unwrap();
        assert_eq!(v.remote_addr, "198.51.100.2");
        assert_eq!(v.server_name, "example.com");
        assert_eq!(h(&v, "host").as_deref(), Some("example.com:8080"));
        assert_eq!(v.server_port, "8080");
        assert_eq!(
            h(&v, "forwarded").as_deref(),
            Some("For=198.51.100.2;host=example.com:8080, For=203.0.113.1")
        );
    }

    #[test]
    fn forwarded_multiple_proxies() {
        let c = cfg("*", 2, &["forwarded"]);
        let raw = "for=\"[2001:db8::1]:3821\";host=\"example.com:8443\";proto=\"https\", for=192.0.2.1;host=\"example.internal:8080\"";
        let mut v = view(LOCAL, &[("forwarded", raw)]);
        run(&c, &mut v).unwrap();
        assert_eq!(v.remote_addr, "2001:db8::1");
        assert_eq!(v.remote_port, "3821");
        assert_eq!(v.server_name, "example.com");
        assert_eq!(h(&v, "host").as_deref(), Some("example.com:8443"));
        assert_eq!(v.server_port, "8443");
        assert_eq!(v.url_scheme, "https");
        assert_eq!(h(&v, "forwarded").as_deref(), Some(raw));
    }

    #[test]
    fn forwarded_multiple_proxies_minimal() {
        let c = cfg("*", 2, &["forwarded"]);
        let raw = "for=\"[2001:db8::1]\";proto=\"https\", for=192.0.2.1;host=\"example.org\"";
        let mut v = view(LOCAL, &[("forwarded", raw)]);
        run(&c, &mut v).unwrap();
        assert_eq!(v.remote_addr, "2001:db8::1");
        assert_eq!(v.server_name, "example.org");
        assert_eq!(h(&v, "host").as_deref(), Some("example.org"));
        assert_eq!(v.server_port, "443");
        assert_eq!(v.url_scheme, "https");
    }

    fn x_forwarded(count: usize, host: &str, port: Option<&str>) -> View {
        let c = cfg(
            "*",
            count,
            &[
                "x-forwarded-for",
                "x-forwarded-proto",
                "x-forwarded-host",
                "x-forwarded-port",
            ],
        );
        let mut hs = vec![
            ("x-forwarded-for", "192.0.2.1, 198.51.100.2, 203.0.113.1"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", host),
        ];
        if let Some(p) = port {
            hs.push(("x-forwarded-port", p));
        }
        let mut v = view(LOCAL, &hs);
        run(&c, &mut v).unwrap();
        v
    }

    #[test]
    fn forwarded_host_with_port() {
        let v = x_forwarded(2, "example.com:8080", None);
        assert_eq!(v.remote_addr, "198.51.100.2");
        assert_eq!(v.server_name, "example.com");
        assert_eq!(h(&v, "host").as_deref(), Some("example.com:8080"));
        assert_eq!(v.server_port, "8080");
        assert_eq!(
            h(&v, "x-forwarded-for").as_deref(),
            Some("198.51.100.2, 203.0.113.1")
        );
    }

    #[test]
    fn forwarded_host_without_port() {
        let v = x_forwarded(2, "example.com", None);
        assert_eq!(v.server_name, "example.com");
        assert_eq!(h(&v, "host").as_deref(), Some("example.com"));
        assert_eq!(v.server_port, "80");
    }

    #[test]
    fn forwarded_host_with_forwarded_port() {
        let v = x_forwarded(2, "example.com", Some("8080"));
        assert_eq!(h(&v, "host").as_deref(), Some("example.com:8080"));
        assert_eq!(v.server_port, "8080");
    }

    #[test]
    fn forwarded_host_multiple_with_forwarded_port() {
        let v = x_forwarded(2, "example.com, example.org", Some("8080"));
        assert_eq!(v.remote_addr, "198.51.100.2");
        assert_eq!(v.server_name, "example.com");
        assert_eq!(h(&v, "host").as_deref(), Some("example.com:8080"));
        assert_eq!(
            h(&v, "x-forwarded-host").as_deref(),
            Some("example.com, example.org")
        );
    }

    #[test]
    fn forwarded_host_multiple_with_forwarded_port_limit_one_trusted() {
        let v = x_forwarded(1, "example.com, example.org", Some("8080"));
        assert_eq!(v.remote_addr, "203.0.113.1");
        assert_eq!(v.server_name, "example.org");
        assert_eq!(h(&v, "host").as_deref(), Some("example.org:8080"));
        assert_eq!(v.server_port, "8080");
        assert_eq!(h(&v, "x-forwarded-for").as_deref(), Some("203.0.113.1"));
        assert_eq!(h(&v, "x-forwarded-host").as_deref(), Some("example.org"));
    }

    #[test]
    fn forwarded() {
        let c = cfg("*", 1, &["forwarded"]);
        let mut v = view(
            LOCAL,
            &[(
                "forwarded",
                "For=198.51.100.2:5858;host=example.com:8080;proto=https",
            )],
        );
        run(&c, &mut v).unwrap();
        assert_eq!(v.remote_addr, "198.51.100.2");
        assert_eq!(v.remote_port, "5858");
        assert_eq!(v.server_name, "example.com");
        assert_eq!(h(&v, "host").as_deref(), Some("example.com:8080"));
        assert_eq!(v.server_port, "8080");
        assert_eq!(v.url_scheme, "https");
    }

    #[test]
    fn forwarded_empty_pair() {
        let c = cfg("*", 1, &["forwarded"]);
        let mut v = view(
            LOCAL,
            &[("forwarded", "For=198.51.100.2;;proto=https;by=_unused")],
        );
        run(&c, &mut v).unwrap();
        assert_eq!(v.remote_addr, "198.51.100.2");
    }

    #[test]
    fn forwarded_malformations() {
        let c = cfg("*", 1, &["forwarded"]);
        for raw in [
            "For=198.51.100.2; proto =https",
            "For= \"198.51.100.2\"; proto =https",
            "For",
        ] {
            let mut v = view(LOCAL, &[("forwarded", raw)]);
            assert_eq!(run(&c, &mut v).unwrap_err().header, "Forwarded", "{raw}");
        }
    }

    #[test]
    fn forwarded_unknown_token_is_noted() {
        let c = cfg("*", 1, &["forwarded"]);
        let mut v = view(
            LOCAL,
            &[(
                "forwarded",
                "For=198.51.100.2;host=example.com:8080;proto=https;unknown=\"yolo\"",
            )],
        );
        let notes = run(&c, &mut v).unwrap();
        assert_eq!(notes, vec![Note::UnknownForwardedToken("unknown".into())]);
        assert_eq!(v.remote_addr, "198.51.100.2");
        assert_eq!(v.url_scheme, "https");
    }

    #[test]
    fn no_valid_proxy_headers() {
        let c = cfg("*", 1, &[]);
        let mut v = view(
            LOCAL,
            &[
                ("x-forwarded-for", "198.51.100.2"),
                (
                    "forwarded",
                    "For=198.51.100.2;host=example.com:8080;proto=https",
                ),
            ],
        );
        run(&c, &mut v).unwrap();
        assert_eq!(v.remote_addr, "127.0.0.1");
        assert_eq!(v.server_name, "localhost");
        assert_eq!(h(&v, "host").as_deref(), Some("192.168.1.1:80"));
        assert_eq!(v.server_port, "8080");
        assert_eq!(v.url_scheme, "http");
    }

    #[test]
    fn multiple_values_in_single_value_headers() {
        let c = cfg("*", 1, &["x-forwarded-proto"]);
        let mut v = view(LOCAL, &[("x-forwarded-proto", "http, https")]);
        assert_eq!(run(&c, &mut v).unwrap_err().header, "X-Forwarded-Proto");
        let c = cfg("*", 1, &["x-forwarded-port"]);
        let mut v = view(LOCAL, &[("x-forwarded-port", "443, 80")]);
        assert_eq!(run(&c, &mut v).unwrap_err().header, "X-Forwarded-Port");
    }

    #[test]
    fn port_that_does_not_match_the_proto() {
        let c = cfg(
            "*",
            1,
            &["x-forwarded-port", "x-forwarded-host", "x-forwarded-proto"],
        );
        let mut v = view(
            LOCAL,
            &[
                ("x-forwarded-port", "80"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "example.com"),
            ],
        );
        run(&c, &mut v).unwrap();
        assert_eq!(h(&v, "host").as_deref(), Some("example.com:80"));
        assert_eq!(v.server_port, "80");
        assert_eq!(v.url_scheme, "https");
        let mut v = view(
            LOCAL,
            &[
                ("x-forwarded-port", "443"),
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "example.com"),
            ],
        );
        run(&c, &mut v).unwrap();
        assert_eq!(h(&v, "host").as_deref(), Some("example.com:443"));
        assert_eq!(v.server_port, "443");
        assert_eq!(v.url_scheme, "http");
    }

    #[test]
    fn bad_quotes() {
        let c = cfg("*", 1, &["x-forwarded-for"]);
        let mut v = view(LOCAL, &[("x-forwarded-for", "\"foo")]);
        assert_eq!(run(&c, &mut v).unwrap_err().header, "X-Forwarded-For");
        let c = cfg("*", 1, &["x-forwarded-host"]);
        let mut v = view(LOCAL, &[("x-forwarded-host", "\"foo")]);
        assert_eq!(run(&c, &mut v).unwrap_err().header, "X-Forwarded-Host");
    }

    #[test]
    fn undquote_rules() {
        assert_eq!(undquote("abc").unwrap(), "abc");
        assert_eq!(undquote("\"a\\\"b\"").unwrap(), "a\"b");
        assert_eq!(undquote("\"\"").unwrap(), "");
        assert!(undquote("\"").is_err());
        assert!(undquote("a\"").is_err());
        assert!(undquote("\"a\"b\"").is_err());
    }
}
