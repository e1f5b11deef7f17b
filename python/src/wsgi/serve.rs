//! One request on an app thread, with the GIL held (PEP 3333 and Waitress's
//! `task.WSGITask.execute`): build the environ, call the app, turn what it returns
//! into host calls, and call the iterable's `close()` on every path — success, an
//! exception, a client that went away.
//!
//! The status is never read here: `start_response` staged it with the host, which
//! sends it with the first non-empty chunk (or at the end), so a generator may call
//! `start_response` lazily. A one-item iterable gets a Content-Length (the host
//! derives it from the final write); other iterables stream. A `wsgi.file_wrapper`
//! around a regular file is handed to the host's sendfile path.
use super::environ::{self, HeaderKeys};
use super::file_wrapper::FileWrapper;
use super::input::InputStream;
use super::start_response::{host_error, not_bytes, send, StartResponse};
use super::ClientDisconnected;
use crate::cell::RequestCell;
use pyo3::exceptions::{PyMemoryError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};
use std::sync::Arc;
use waitressd::app::{HostError, Outcome, RequestView};

/// What every request of a worker shares.
pub struct Shared {
    /// The WSGI callable.
    pub app: Py<PyAny>,
    pub keys: environ::Keys,
    /// The environ's constant keys, copied for each request.
    pub template: Py<PyDict>,
}

/// Serve the request in `view`; the cell gives its host.
pub fn serve(
    py: Python<'_>,
    shared: &Shared,
    header_keys: &mut HeaderKeys,
    cell: &Arc<RequestCell>,
    view: &RequestView<'_>,
) -> Outcome {
    match respond(py, shared, header_keys, cell, view) {
        Ok(()) => Outcome::Ok,
        Err(err) => failed(py, cell, view.id, err),
    }
}

fn respond(
    py: Python<'_>,
    shared: &Shared,
    header_keys: &mut HeaderKeys,
    cell: &Arc<RequestCell>,
    view: &RequestView<'_>,
) -> PyResult<()> {
    let id = view.id;
    let environ = {
        let mut call = cell.enter(py, id)?;
        environ::build(
            py,
            shared.template.bind(py),
            &shared.keys,
            header_keys,
            view,
            call.host(),
        )?
    };
    let length = u64::try_from(view.content_length).unwrap_or(0);
    environ.set_item(
        shared.keys.input.bind(py),
        Bound::new(py, InputStream::new(cell.clone(), id, length))?,
    )?;
    environ.set_item(
        shared.keys.client_disconnected.bind(py),
        Bound::new(
            py,
            DisconnectCheck {
                cell: cell.clone(),
                id,
            },
        )?,
    )?;
    let start_response = Bound::new(py, StartResponse::new(cell.clone(), id))?;
    let app_iter = shared.app.bind(py).call1((environ, &start_response))?;
    let sent = body(py, &app_iter, start_response.get(), cell, id);
    let closed = close(&app_iter);
    sent?;
    closed
}

/// Send what the app returned.
fn body(
    py: Python<'_>,
    app_iter: &Bound<'_, PyAny>,
    start_response: &StartResponse,
    cell: &Arc<RequestCell>,
    id: u64,
) -> PyResult<()> {
    if let Ok(wrapper) = app_iter.cast::<FileWrapper>() {
        if file_body(py, wrapper.get(), start_response, cell, id)? {
            return Ok(());
        }
    }
    // Waitress: a Content-Length from the first chunk when the iterable says it
    // has one item and the app set none (the host derives it from a final write).
    let one_item = if let Ok(list) = app_iter.cast::<PyList>() {
        list.len() == 1
    } else if let Ok(tuple) = app_iter.cast::<PyTuple>() {
        tuple.len() == 1
    } else {
        app_iter.hasattr("__len__")? && app_iter.len()? == 1
    };
    let mut first = true;
    for chunk in app_iter.try_iter()? {
        let chunk = chunk?;
        let last = first && one_item;
        first = false;
        let sent = with_bytes(&chunk, |data| {
            if data.is_empty() && !last {
                return Ok(()); // headers go out with the first non-empty chunk
            }
            let mut call = cell.enter(py, id)?;
            send(py, &mut call, data, last)
        });
        match sent {
            Ok(result) => result?,
            Err(NotBytes) => {
                // As Waitress: the headers are out before the chunk is refused.
                let mut call = cell.enter(py, id)?;
                let _ = call.host().commit();
                return Err(not_bytes(&chunk));
            }
        }
    }
    if !start_response.was_called() {
        return Err(PyRuntimeError::new_err(
            "start_response was not called before body written",
        ));
    }
    Ok(())
}

/// A body chunk that is not bytes.
struct NotBytes;

/// Run `f` on the bytes of a body chunk (bytes, or a bytearray).
fn with_bytes<R>(chunk: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> Result<R, NotBytes> {
    if let Ok(b) = chunk.cast::<PyBytes>() {
        Ok(f(b.as_bytes()))
    } else if let Ok(b) = chunk.cast::<PyByteArray>() {
        Ok(f(&b.to_vec()))
    } else {
        Err(NotBytes)
    }
}

/// A `wsgi.file_wrapper` response. A regular file is sent by the host with
/// sendfile(2) from the file's current position (`tell()`); another seekable object
/// is streamed with Waitress's length rules; anything else is iterated by the
/// caller (false).
fn file_body(
    py: Python<'_>,
    wrapper: &FileWrapper,
    start_response: &StartResponse,
    cell: &Arc<RequestCell>,
    id: u64,
) -> PyResult<bool> {
    let filelike = wrapper.filelike(py);
    let (Ok(seek), Ok(tell)) = (filelike.getattr("seek"), filelike.getattr("tell")) else {
        return Ok(false);
    };
    let position: u64 = match tell.call0().and_then(|p| p.extract()) {
        Ok(p) => p,
        Err(_) => return Ok(false),
    };
    if let Some(file) = regular_file(filelike) {
        let call = cell.enter(py, id)?;
        let host = call.host_ptr();
        // The I/O thread sends it; queueing may still wait at the high watermark.
        let result = py.detach(move || host.with(|h| h.send_file(file, position, None, true)));
        return match result {
            Ok(()) | Err(HostError::Length) => Ok(true),
            Err(e) => Err(host_error(e, "send_file")),
        };
    }
    // Seekable but not a file descriptor (io.BytesIO): the size from the end.
    let end: u64 = match seek.call1((0, 2)).and_then(|p| p.extract()) {
        Ok(end) => end,
        Err(_) => return Ok(false),
    };
    seek.call1((position,))?;
    if !start_response.was_called() {
        return Err(PyRuntimeError::new_err(
            "start_response was not called before body written",
        ));
    }
    let mut left = {
        let mut call = cell.enter(py, id)?;
        call.host()
            .whole_body(end.saturating_sub(position))
            .map_err(|e| host_error(e, "write"))?
    };
    let read = filelike.getattr("read")?;
    while left > 0 {
        let want = left.min(wrapper.block_size_value() as u64);
        let piece = read.call1((want,))?;
        let n = with_bytes(&piece, |data| -> PyResult<usize> {
            let mut call = cell.enter(py, id)?;
            send(py, &mut call, data, false)?;
            Ok(data.len())
        })
        .map_err(|NotBytes| not_bytes(&piece))??;
        if n == 0 {
            break; // shorter than it said: the host closes the connection
        }
        left = left.saturating_sub(n as u64);
    }
    if left == 0 {
        // Nothing more: an empty body still needs its head.
        let mut call = cell.enter(py, id)?;
        call.host().commit().map_err(|e| host_error(e, "write"))?;
    }
    Ok(true)
}

/// A duplicate of the file-like's descriptor, if it is a regular file.
fn regular_file(filelike: &Bound<'_, PyAny>) -> Option<std::fs::File> {
    let fd: i32 = filelike.call_method0("fileno").ok()?.extract().ok()?;
    let file = crate::gil::duplicate_fd(fd).ok()?;
    file.metadata().ok()?.is_file().then_some(file)
}

/// PEP 3333: "close() ... must be called ... whether the request was completed
/// normally, or terminated early due to an application error".
fn close(app_iter: &Bound<'_, PyAny>) -> PyResult<()> {
    if app_iter.hasattr("close")? {
        app_iter.call_method0("close")?;
    }
    Ok(())
}

/// The app (or its iterable, or its close) raised: say why to the host, which logs
/// it with the request and answers 500 (before the first body byte) or cuts the
/// connection (after).
fn failed(py: Python<'_>, cell: &RequestCell, id: u64, err: PyErr) -> Outcome {
    let Ok(mut call) = cell.enter(py, id) else {
        return Outcome::Failed;
    };
    let host = call.host();
    if err.is_instance_of::<ClientDisconnected>(py) && host.is_disconnected() {
        return Outcome::Disconnected;
    }
    host.set_error(traceback_text(py, &err).trim_end().as_bytes());
    // An interpreter out of memory is not to be trusted with more requests.
    if err.is_instance_of::<PyMemoryError>(py) {
        Outcome::Fatal
    } else {
        Outcome::Failed
    }
}

/// The exception as Python prints it (`traceback.format_exception`).
fn traceback_text(py: Python<'_>, err: &PyErr) -> String {
    let formatted = py
        .import("traceback")
        .and_then(|tb| tb.call_method1("format_exception", (err.value(py),)))
        .and_then(|lines| {
            PyString::new(py, "")
                .call_method1("join", (lines,))?
                .extract::<String>()
        });
    formatted.unwrap_or_else(|_| err.to_string())
}

/// `environ["waitress.client_disconnected"]`: true once the client closed its side
/// or the connection broke (Waitress's `channel.check_client_disconnected`).
#[pyclass(module = "waitressd", name = "ClientDisconnectedCheck", frozen)]
pub struct DisconnectCheck {
    cell: Arc<RequestCell>,
    id: u64,
}

#[pymethods]
impl DisconnectCheck {
    fn __call__(&self, py: Python<'_>) -> bool {
        match self.cell.enter(py, self.id) {
            Ok(mut call) => call.host().is_disconnected(),
            // The request is over: as far as it is concerned, the client has gone.
            Err(_) => true,
        }
    }
}
