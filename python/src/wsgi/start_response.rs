//! `start_response(status, headers, exc_info=None)` and the `write(data)` callable it
//! returns, with Waitress's checks and messages (`task.WSGITask.execute`,
//! `task.Task.write`). The status and headers are staged with the host, not sent:
//! they go out with the first non-empty body chunk (or at the end), so an app may
//! call `start_response` lazily inside its generator and replace the staged head
//! with `exc_info` until then. Strings are latin-1 (PEP 3333), checked here, so a
//! bad header fails in the app's own frame.
use super::ClientDisconnected;
use crate::cell::{HostCall, RequestCell};
use pyo3::exceptions::{PyAssertionError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use waitressd::app::HostError;

/// Headers the server owns (Waitress `utilities.hop_by_hop`, the ABI's list).
use waitressd_sdk::sys::HOP_BY_HOP_HEADERS;

#[pyclass(module = "waitressd", name = "StartResponse", frozen)]
pub struct StartResponse {
    cell: Arc<RequestCell>,
    id: u64,
    /// start_response has been called (Waitress's `task.complete`).
    started: AtomicBool,
}

impl StartResponse {
    pub fn new(cell: Arc<RequestCell>, id: u64) -> StartResponse {
        StartResponse {
            cell,
            id,
            started: AtomicBool::new(false),
        }
    }

    pub fn was_called(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Write> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        if self.was_called() && exc_info.is_none() {
            return Err(PyAssertionError::new_err(
                "start_response called a second time without providing exc_info.",
            ));
        }
        let mut call = self.cell.enter(py, self.id)?;
        if let Some(exc_info) = exc_info {
            if call.host().headers_sent() {
                // PEP 3333: too late to replace the headers; re-raise the app's error
                // (with its own traceback) for the server to handle.
                return Err(PyErr::from_value(exc_info.get_item(1)?));
            }
        }
        let replace = self.started.swap(true, Ordering::Relaxed);
        let status = status_line(status)?;
        let headers = header_list(headers)?;
        let pairs: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        // The host's own rules (token names, one Content-Length...), so the error
        // carries its reason; the host applies them again when it stages.
        if let Err(e) = waitressd_sdk::rules::validate_start(status.0, &status.1, &pairs) {
            return Err(PyValueError::new_err(e.to_string()));
        }
        match call.host().start(status.0, &status.1, &pairs, replace) {
            Ok(()) => Ok(Write {
                cell: self.cell.clone(),
                id: self.id,
            }),
            Err(HostError::Committed) => Err(PyAssertionError::new_err(
                "start_response called a second time after the headers were sent",
            )),
            Err(e) => Err(PyRuntimeError::new_err(format!(
                "start_response failed ({e:?})"
            ))),
        }
    }
}

/// "200 OK" → (200, b"OK"), latin-1.
fn status_line(status: &Bound<'_, PyAny>) -> PyResult<(u16, Vec<u8>)> {
    let Ok(text) = status.cast::<PyString>() else {
        return Err(PyAssertionError::new_err(format!(
            "status {} is not a string",
            status.str()?
        )));
    };
    let text = text.to_str()?;
    if text.contains(['\n', '\r']) {
        return Err(PyValueError::new_err(
            "carriage return/line feed character present in status",
        ));
    }
    let bytes = latin1_bytes(text, "status")?;
    let code = bytes
        .get(..3)
        .filter(|d| d.iter().all(u8::is_ascii_digit))
        .filter(|_| bytes.len() == 3 || bytes[3] == b' ')
        .and_then(|d| std::str::from_utf8(d).ok()?.parse::<u16>().ok())
        .filter(|c| *c >= 100);
    match code {
        Some(code) => Ok((code, bytes.get(4..).unwrap_or_default().to_vec())),
        None => Err(PyValueError::new_err(format!(
            "status {text:?} is not a three-digit code followed by a reason phrase"
        ))),
    }
}

/// The app's `[(name, value), ...]`, checked as Waitress checks it, latin-1.
fn header_list(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    for item in headers.try_iter()? {
        let item = item?;
        let mut parts = item.try_iter()?;
        let (Some(k), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(PyValueError::new_err(format!(
                "a header must be a (name, value) pair, not {}",
                item.repr()?
            )));
        };
        let (k, v) = (k?, v?);
        let pair = || -> PyResult<String> {
            Ok(pyo3::types::PyTuple::new(item.py(), [&k, &v])?
                .repr()?
                .to_string())
        };
        let Ok(name) = k.cast::<PyString>() else {
            return Err(PyAssertionError::new_err(format!(
                "Header name {} is not a string in {}",
                k.repr()?,
                pair()?
            )));
        };
        let Ok(value) = v.cast::<PyString>() else {
            return Err(PyAssertionError::new_err(format!(
                "Header value {} is not a string in {}",
                v.repr()?,
                pair()?
            )));
        };
        let (name, value) = (name.to_str()?, value.to_str()?);
        if value.contains(['\n', '\r']) {
            return Err(PyValueError::new_err(
                "carriage return/line feed character present in header value",
            ));
        }
        if name.contains(['\n', '\r']) {
            return Err(PyValueError::new_err(
                "carriage return/line feed character present in header name",
            ));
        }
        if name.eq_ignore_ascii_case("content-length") {
            // Waitress: int(v), with int's own error.
            if value.trim().parse::<u64>().is_err() {
                return Err(PyValueError::new_err(format!(
                    "invalid literal for int() with base 10: {value:?}"
                )));
            }
        } else if HOP_BY_HOP_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
        {
            return Err(PyAssertionError::new_err(format!(
                "{name} is a \"hop-by-hop\" header; it cannot be used by a WSGI application (see PEP 3333)"
            )));
        }
        out.push((
            latin1_bytes(name, "header name")?,
            latin1_bytes(value, "header value")?,
        ));
    }
    Ok(out)
}

/// A native string's latin-1 bytes (PEP 3333: headers and status are latin-1).
pub fn latin1_bytes(text: &str, what: &str) -> PyResult<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{what} {text:?} is not latin-1: PEP 3333 needs latin-1 str (encode other text, e.g. RFC 8187)"
            ))
        })
}

/// The `write(data)` callable `start_response` returns (Waitress `Task.write`).
#[pyclass(module = "waitressd", name = "Write", frozen)]
pub struct Write {
    cell: Arc<RequestCell>,
    id: u64,
}

#[pymethods]
impl Write {
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut call = self.cell.enter(py, self.id)?;
        let Ok(bytes) = data.cast::<PyBytes>() else {
            // Waitress has written the headers by the time it fails on a str.
            let _ = call.host().commit();
            return Err(not_bytes(data));
        };
        let bytes = bytes.as_bytes();
        if bytes.is_empty() {
            // Waitress's write(b"") sends the headers.
            return call.host().commit().map_err(|e| host_error(e, "write"));
        }
        send(py, &mut call, bytes, false)
    }
}

/// "write() argument must be bytes, not str" (a body chunk that is not bytes).
pub fn not_bytes(data: &Bound<'_, PyAny>) -> PyErr {
    let kind = data
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!(
        "a WSGI response body is bytes, not {kind} (PEP 3333: encode text first)"
    ))
}

/// Queue body bytes: with the GIL held when the connection takes them at once, and
/// without it when the write may block at the high watermark, so the app's other
/// threads run meanwhile.
pub fn send(py: Python<'_>, call: &mut HostCall<'_>, data: &[u8], last: bool) -> PyResult<()> {
    let result = if call.host().write_would_block(data.len()) {
        let host = call.host_ptr();
        py.detach(move || host.with(|h| h.write(data, last)))
    } else {
        call.host().write(data, last)
    };
    match result {
        // Bytes past the declared Content-Length are dropped and logged by the
        // host; Waitress does not fail the app for them either.
        Ok(()) | Err(HostError::Length) => Ok(()),
        Err(e) => Err(host_error(e, "write")),
    }
}

/// A host refusal as the Python exception the app sees.
pub fn host_error(e: HostError, what: &str) -> PyErr {
    match e {
        HostError::Disconnected => {
            ClientDisconnected::new_err("the client disconnected before the response was complete")
        }
        HostError::State => {
            PyRuntimeError::new_err("start_response was not called before body written")
        }
        other => PyRuntimeError::new_err(format!("{what} failed ({other:?})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_headers_are_latin1() {
        assert_eq!(latin1_bytes("caf\u{e9}", "x").unwrap(), b"caf\xe9");
        Python::initialize();
        Python::attach(|py| {
            let err = latin1_bytes("\u{20ac}", "header value").unwrap_err();
            assert!(err.value(py).to_string().contains("is not latin-1"));
            let status = |s: &str| status_line(PyString::new(py, s).as_any());
            assert_eq!(status("200 OK").unwrap(), (200, b"OK".to_vec()));
            assert_eq!(status("404").unwrap(), (404, Vec::new()));
            assert_eq!(status("599 Caf\u{e9}").unwrap(), (599, b"Caf\xe9".to_vec()));
            for bad in ["OK", "20 OK", "2000 OK", "099 Low", "20x OK", ""] {
                assert!(status(bad).is_err(), "{bad:?}");
            }
        });
    }
}
