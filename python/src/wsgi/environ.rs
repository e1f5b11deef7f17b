//! The environ dict, exactly the keys and values Waitress 3.0.2 sets
//! (`task.WSGITask.get_environment`), built on the app thread for each request: a
//! copy of a per-worker template holding the constant keys, then the request's
//! values as latin-1 `str`s under interned keys. CONTENT_LENGTH and CONTENT_TYPE are
//! there only when the request had them; nothing comes from `os.environ`.
use crate::gil::latin1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::collections::HashMap;
use waitressd::app::{HostInfo, HostRequest, RequestView};

/// The per-request keys, interned once per worker.
pub struct Keys {
    remote_addr: Py<PyString>,
    remote_host: Py<PyString>,
    remote_port: Py<PyString>,
    request_method: Py<PyString>,
    server_port: Py<PyString>,
    server_name: Py<PyString>,
    server_protocol: Py<PyString>,
    script_name: Py<PyString>,
    path_info: Py<PyString>,
    request_uri: Py<PyString>,
    query_string: Py<PyString>,
    url_scheme: Py<PyString>,
    content_length: Py<PyString>,
    content_type: Py<PyString>,
    pub input: Py<PyString>,
    pub client_disconnected: Py<PyString>,
}

impl Keys {
    pub fn new(py: Python<'_>) -> Keys {
        let k = |s: &str| PyString::intern(py, s).unbind();
        Keys {
            remote_addr: k("REMOTE_ADDR"),
            remote_host: k("REMOTE_HOST"),
            remote_port: k("REMOTE_PORT"),
            request_method: k("REQUEST_METHOD"),
            server_port: k("SERVER_PORT"),
            server_name: k("SERVER_NAME"),
            server_protocol: k("SERVER_PROTOCOL"),
            script_name: k("SCRIPT_NAME"),
            path_info: k("PATH_INFO"),
            request_uri: k("REQUEST_URI"),
            query_string: k("QUERY_STRING"),
            url_scheme: k("wsgi.url_scheme"),
            content_length: k("CONTENT_LENGTH"),
            content_type: k("CONTENT_TYPE"),
            input: k("wsgi.input"),
            client_disconnected: k("waitress.client_disconnected"),
        }
    }
}

/// The keys every request of this worker has with the same value.
pub fn template<'py>(
    py: Python<'py>,
    info: &HostInfo,
    file_wrapper: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let sys = py.import("sys")?;
    let d = PyDict::new(py);
    d.set_item("SERVER_SOFTWARE", &info.ident)?;
    d.set_item("wsgi.version", (1, 0))?;
    d.set_item("wsgi.errors", sys.getattr("stderr")?)?;
    d.set_item("wsgi.multithread", true)?;
    // True when other processes serve the same app (a deliberate difference from
    // Waitress, which has one process and says False).
    d.set_item("wsgi.multiprocess", info.multiprocess)?;
    d.set_item("wsgi.run_once", false)?;
    d.set_item("wsgi.file_wrapper", file_wrapper)?;
    d.set_item("wsgi.input_terminated", true)?;
    Ok(d)
}

/// An app thread's cache of interned `HTTP_*` keys (clients send the same header
/// names over and over). Bounded, so a client inventing names cannot grow it.
#[derive(Default)]
pub struct HeaderKeys {
    by_name: HashMap<Vec<u8>, Py<PyString>>,
}

const MAX_CACHED_HEADER_KEYS: usize = 512;

impl HeaderKeys {
    fn get<'py>(&mut self, py: Python<'py>, name: &[u8]) -> PyResult<Bound<'py, PyString>> {
        if let Some(k) = self.by_name.get(name) {
            return Ok(k.bind(py).clone());
        }
        let key = latin1(py, name)?;
        if self.by_name.len() < MAX_CACHED_HEADER_KEYS {
            // Interned: dict lookups by the app then compare pointers first.
            let interned = PyString::intern(py, key.to_str()?);
            self.by_name
                .insert(name.to_vec(), interned.clone().unbind());
            return Ok(interned);
        }
        Ok(key)
    }
}

/// The environ of one request: the template's keys, then the request's.
pub fn build<'py>(
    py: Python<'py>,
    template: &Bound<'py, PyDict>,
    keys: &Keys,
    header_keys: &mut HeaderKeys,
    view: &RequestView<'_>,
    host: &dyn HostRequest,
) -> PyResult<Bound<'py, PyDict>> {
    let environ = template.copy()?;
    let set = |key: &Py<PyString>, value: &[u8]| environ.set_item(key.bind(py), latin1(py, value)?);
    set(&keys.remote_addr, view.remote_addr)?;
    set(&keys.remote_host, view.remote_host)?;
    // Waitress: str(channel.addr[1]), which is "None" on a unix socket.
    let remote_port: &[u8] = if view.remote_port.is_empty() {
        b"None"
    } else {
        view.remote_port
    };
    set(&keys.remote_port, remote_port)?;
    set(&keys.request_method, view.method)?;
    set(&keys.server_port, view.server_port)?;
    set(&keys.server_name, view.server_name)?;
    set(&keys.server_protocol, view.protocol)?;
    set(&keys.script_name, view.script_name)?;
    set(&keys.path_info, view.path_info)?;
    set(&keys.request_uri, view.uri)?;
    set(&keys.query_string, view.query_string)?;
    set(&keys.url_scheme, view.url_scheme)?;
    if view.has_content_length {
        let text = view.content_length.to_string();
        set(&keys.content_length, text.as_bytes())?;
    }
    if let Some(content_type) = view.content_type {
        set(&keys.content_type, content_type)?;
    }
    for (name, value) in host.http_vars() {
        environ.set_item(header_keys.get(py, name)?, latin1(py, value)?)?;
    }
    Ok(environ)
}
