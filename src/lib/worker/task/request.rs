//! The app's view of one request (Waitress `task.get_environment`), built on the app
//! thread that serves it: PATH_INFO, SCRIPT_NAME and QUERY_STRING from the target,
//! the server's and the peer's names, trusted proxy headers, and the headers the app
//! sees. Everything borrows from the parsed head, the connection's `Peer` and the
//! worker's settings, except what a rule transforms (a percent-decoded path, values
//! rewritten by proxy rules).
use super::{Peer, TaskSettings};
use crate::app::{self, RequestView};
use crate::http::proxy;
use crate::http::{environ, BodyKind, RequestHead};
use std::borrow::Cow;
use std::cell::OnceCell;

/// What proxy headers changed, when they changed anything (`proxy::apply`).
pub(super) type Proxied = proxy::View;

/// Apply the trusted proxy rules to a request, if they can change anything: `None`
/// for the common request, the rewritten view otherwise, or the trusted header that
/// is malformed (the request gets a 400).
pub(super) fn proxied(
    head: &RequestHead,
    peer: &Peer,
    settings: &TaskSettings,
) -> Result<Option<Proxied>, proxy::Malformed> {
    if !proxy::has_work(
        &settings.proxy,
        &peer.remote_addr,
        app_headers(head).map(|(n, _)| n),
    ) {
        return Ok(None);
    }
    let mut view = proxy::View {
        remote_addr: peer.remote_addr.clone(),
        remote_port: peer.remote_port.clone(),
        url_scheme: settings.url_scheme.clone(),
        server_name: settings.server_name.clone(),
        server_port: peer.local_port.clone(),
        headers: app_headers(head)
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect(),
    };
    let notes = proxy::apply(&settings.proxy, &mut view)?;
    log_proxy_notes(&notes, &peer.remote_addr);
    Ok(Some(view))
}

/// The request's fields the app may see: names with '_' are dropped, as Waitress
/// does, so they cannot pose as a proxy header or any other CGI variable.
fn app_headers(head: &RequestHead) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.headers().filter(|(name, _)| !name.contains(&b'_'))
}

fn log_proxy_notes(notes: &[proxy::Note], peer: &str) {
    for note in notes {
        match note {
            proxy::Note::UnknownForwardedToken(token) => {
                log::warn!("Unknown Forwarded token: {token}")
            }
            proxy::Note::RemovedUntrusted(names) => log::warn!(
                "Removed untrusted headers ({}) from {peer}. Waitress recommends these be removed upstream.",
                names.join(", ")
            ),
        }
    }
}

/// One request as the app sees it.
pub(super) struct Prepared<'r> {
    id: u64,
    pub head: &'r RequestHead,
    /// The fields the app sees: (lower-case name, value), arrival order.
    headers: Vec<(&'r [u8], &'r [u8])>,
    /// The percent-decoded path, and where PATH_INFO sits in it.
    decoded_path: Cow<'r, [u8]>,
    path_info: std::ops::Range<usize>,
    script_name: &'r [u8],
    query_string: &'r [u8],
    server_name: &'r str,
    server_port: &'r str,
    url_scheme: &'r str,
    /// REMOTE_ADDR / REMOTE_PORT after trusted proxy headers.
    pub remote_addr: &'r str,
    remote_port: &'r str,
    content_type: Option<&'r [u8]>,
    /// The request said how long its body is (Content-Length, or chunked framing).
    has_content_length: bool,
    content_length: u64,
    flags: u32,
    /// Text forms of numbers, and the CGI variables for get_var("HTTP_..."), made
    /// only when an app asks.
    content_length_text: OnceCell<Vec<u8>>,
    request_id_text: OnceCell<Vec<u8>>,
    cgi_headers: OnceCell<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl<'r> Prepared<'r> {
    /// `content_length`: the body's length once received (de-chunked).
    pub fn new(
        id: u64,
        head: &'r RequestHead,
        peer: &'r Peer,
        settings: &'r TaskSettings,
        proxied: Option<&'r Proxied>,
        content_length: u64,
    ) -> Prepared<'r> {
        let (raw_path, query_string) = environ::split_target(head.target());
        let decoded_path = environ::percent_decode(raw_path);
        let (script_name, path_info) =
            environ::script_and_path(&decoded_path, &settings.url_prefix);
        let script_name = if script_name.is_empty() {
            b""
        } else {
            settings.url_prefix.as_bytes()
        };
        let path_info = subrange(&decoded_path, path_info);
        let chunked = head.body == BodyKind::Chunked;
        let mut flags = 0;
        if head.is_head() {
            flags |= app::WD_REQ_HEAD;
        }
        if head.keep_alive {
            flags |= app::WD_REQ_KEEPALIVE;
        }
        if chunked {
            flags |= app::WD_REQ_CHUNKED_IN;
        }
        let mut prepared = Prepared {
            id,
            head,
            headers: Vec::new(),
            decoded_path,
            path_info,
            script_name,
            query_string,
            server_name: &settings.server_name,
            server_port: &peer.local_port,
            url_scheme: &settings.url_scheme,
            remote_addr: &peer.remote_addr,
            remote_port: &peer.remote_port,
            content_type: head.header(b"content-type"),
            has_content_length: chunked || head.header(b"content-length").is_some(),
            content_length,
            flags,
            content_length_text: OnceCell::new(),
            request_id_text: OnceCell::new(),
            cgi_headers: OnceCell::new(),
        };
        match proxied {
            None => prepared.headers = app_headers(head).collect(),
            Some(p) => {
                prepared.headers = p.headers.iter().map(|(n, v)| (&n[..], &v[..])).collect();
                prepared.server_name = &p.server_name;
                prepared.server_port = &p.server_port;
                prepared.url_scheme = &p.url_scheme;
                prepared.remote_addr = &p.remote_addr;
                prepared.remote_port = &p.remote_port;
            }
        }
        prepared
    }

    fn path_info(&self) -> &[u8] {
        &self.decoded_path[self.path_info.clone()]
    }

    /// The view handed to the app's handle().
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            id: self.id,
            flags: self.flags,
            method: self.head.method_bytes(),
            uri: self.head.target(),
            script_name: self.script_name,
            path_info: self.path_info(),
            query_string: self.query_string,
            protocol: self.head.version.as_str().as_bytes(),
            url_scheme: self.url_scheme.as_bytes(),
            server_name: self.server_name.as_bytes(),
            server_port: self.server_port.as_bytes(),
            remote_addr: self.remote_addr.as_bytes(),
            remote_port: self.remote_port.as_bytes(),
            remote_host: self.remote_addr.as_bytes(),
            content_type: self.content_type,
            has_content_length: self.has_content_length,
            headers: &self.headers,
            content_length: self.content_length as i64,
        }
    }

    /// PATH_INFO as text, for log lines.
    pub fn path_text(&self) -> String {
        String::from_utf8_lossy(self.path_info()).into_owned()
    }

    /// A CGI variable by name (`get_var`); `server_software` and `disconnected` are
    /// the worker's and the connection's.
    pub fn var(&self, name: &[u8], server_software: &'r str, disconnected: bool) -> Option<&[u8]> {
        let v: &[u8] = match name {
            b"REQUEST_METHOD" => self.head.method_bytes(),
            b"REQUEST_URI" => self.head.target(),
            b"SCRIPT_NAME" => self.script_name,
            b"PATH_INFO" => self.path_info(),
            b"QUERY_STRING" => self.query_string,
            b"SERVER_PROTOCOL" => self.head.version.as_str().as_bytes(),
            b"SERVER_NAME" => self.server_name.as_bytes(),
            b"SERVER_PORT" => self.server_port.as_bytes(),
            b"SERVER_SOFTWARE" => server_software.as_bytes(),
            b"REMOTE_ADDR" | b"REMOTE_HOST" => self.remote_addr.as_bytes(),
            b"REMOTE_PORT" => self.remote_port.as_bytes(),
            b"CONTENT_TYPE" => self.content_type.unwrap_or_default(),
            b"CONTENT_LENGTH" => self
                .content_length_text
                .get_or_init(|| self.content_length.to_string().into_bytes()),
            b"REQUEST_ID" => self
                .request_id_text
                .get_or_init(|| self.id.to_string().into_bytes()),
            b"wsgi.url_scheme" => self.url_scheme.as_bytes(),
            b"waitress.client_disconnected" => {
                if disconnected {
                    b"1"
                } else {
                    b"0"
                }
            }
            _ => {
                return self
                    .cgi_headers()
                    .iter()
                    .find(|(k, _)| k.as_slice() == name)
                    .map(|(_, v)| v.as_slice())
            }
        };
        Some(v)
    }

    /// WSGI's HTTP_* variables: duplicates joined with ", " (Waitress), Content-Type
    /// and Content-Length under their CGI names only.
    pub fn cgi_headers(&self) -> &[(Vec<u8>, Vec<u8>)] {
        self.cgi_headers.get_or_init(|| {
            let mut vars: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(self.headers.len());
            for &(name, value) in &self.headers {
                // Content-Type/-Length have their own names; Transfer-Encoding is
                // the server's business (Waitress pops it: the app sees a body
                // with a CONTENT_LENGTH, however it was framed).
                if name == b"content-type"
                    || name == b"content-length"
                    || name == b"transfer-encoding"
                {
                    continue;
                }
                let key = format!("HTTP_{}", environ::cgi_header_name(name)).into_bytes();
                match vars.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => {
                        v.extend_from_slice(b", ");
                        v.extend_from_slice(value);
                    }
                    None => vars.push((key, value.to_vec())),
                }
            }
            vars
        })
    }
}

/// Where `part` (a subslice of `whole`) sits in `whole`.
fn subrange(whole: &[u8], part: &[u8]) -> std::ops::Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
    if part.is_empty() || start > whole.len() {
        return 0..0;
    }
    start..start + part.len()
}
