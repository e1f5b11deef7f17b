//! A WSGI app in one worker: `WsgiApp::boot` runs on the worker's main thread right
//! after fork (the master never imports the app), `WsgiThread` is one app thread's
//! state (its Python thread state, its request cell, its header-key cache), and
//! `shutdown` runs the app's `atexit` callbacks at the end of a drain.
use super::environ::{self, HeaderKeys};
use super::serve::{self, Shared};
use super::FileWrapper;
use crate::cell::RequestCell;
use crate::gil::ThreadState;
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::sync::Arc;
use waitressd::app::{EmbeddedApp, EmbeddedThread, HostInfo, HostRequest, Outcome, RequestView};
use waitressd::config::PythonApp;

/// The signals a worker owns: an app's `signal.signal()` for one of them is refused
/// with a warning (a Python handler would replace the server's and never run, since
/// the worker's main thread runs no Python).
const WORKER_SIGNALS: [libc::c_int; 7] = [
    libc::SIGTERM,
    libc::SIGQUIT,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

pub struct WsgiApp {
    target: String,
    /// The worker is a process of its own (forked): at the end of a drain it may run
    /// the interpreter's `atexit` callbacks. Not when `serve()` runs in the caller's
    /// process, whose exit is its own business.
    own_process: bool,
    shared: Arc<Shared>,
}

impl WsgiApp {
    /// Import the app as `waitress-serve` does (the current directory on
    /// `sys.path`, `pkgutil.resolve_name`, `--call`), after preparing the worker
    /// (`waitressd._worker.boot`). An error is the exception's last line; the whole
    /// traceback is logged here.
    pub fn boot(
        py: Python<'_>,
        app: &PythonApp,
        info: &HostInfo,
        opts: &[(String, String)],
    ) -> Result<WsgiApp, String> {
        let booted = (|| -> PyResult<WsgiApp> {
            let worker = py.import("waitressd._worker")?;
            let callable = worker.call_method1(
                "boot",
                (
                    &app.target,
                    app.call,
                    options(py, opts)?,
                    PyList::new(py, WORKER_SIGNALS)?,
                ),
            )?;
            WsgiApp::serving(py, callable, &app.target, info, true)
        })();
        booted.map_err(|err| import_failure(py, &app.target, err))
    }

    /// The app object `serve(app)` was given, in a forked worker (prepared as a
    /// worker, `forked`) or in the caller's own process (left as it is).
    pub fn from_object(
        py: Python<'_>,
        object: Py<PyAny>,
        describe: &str,
        info: &HostInfo,
        opts: &[(String, String)],
        forked: bool,
    ) -> Result<WsgiApp, String> {
        let ready = (|| -> PyResult<WsgiApp> {
            if forked {
                py.import("waitressd._worker")?.call_method1(
                    "prepare",
                    (options(py, opts)?, PyList::new(py, WORKER_SIGNALS)?),
                )?;
            }
            WsgiApp::serving(py, object.into_bound(py), describe, info, forked)
        })();
        ready.map_err(|err| import_failure(py, describe, err))
    }

    fn serving(
        py: Python<'_>,
        callable: Bound<'_, PyAny>,
        describe: &str,
        info: &HostInfo,
        own_process: bool,
    ) -> PyResult<WsgiApp> {
        if !callable.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "{describe} is not callable (a {}); is it a factory that needs --call?",
                callable.get_type().name()?
            )));
        }
        let file_wrapper = py.get_type::<FileWrapper>();
        let template = environ::template(py, info, file_wrapper.as_any())?;
        Ok(WsgiApp {
            target: describe.to_string(),
            own_process,
            shared: Arc::new(Shared {
                app: callable.unbind(),
                keys: environ::Keys::new(py),
                template: template.unbind(),
            }),
        })
    }
}

/// The `--app-opt` pairs as the dict `waitressd.app_options` gets.
fn options<'py>(
    py: Python<'py>,
    opts: &[(String, String)],
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let options = pyo3::types::PyDict::new(py);
    for (k, v) in opts {
        options.set_item(k, v)?;
    }
    Ok(options)
}

/// An import (or boot) failure: the whole traceback logged here, the last line
/// returned for the master's one-line report.
fn import_failure(py: Python<'_>, target: &str, err: PyErr) -> String {
    let last_line = err.to_string();
    let traceback = err
        .traceback(py)
        .and_then(|tb| tb.format().ok())
        .unwrap_or_default();
    log::error!(
        "worker {}: cannot import the app {target}:\n{traceback}{last_line}",
        std::process::id()
    );
    format!("cannot import the app {target}: {last_line}")
}

impl EmbeddedApp for WsgiApp {
    fn describe(&self) -> String {
        self.target.clone()
    }

    fn thread_init(&self, index: u32) -> Result<Box<dyn EmbeddedThread>, String> {
        let state = ThreadState::create();
        Python::attach(|py| {
            // Waitress names its threads so; apps and logs see the same names.
            let named = py
                .import("threading")
                .and_then(|t| t.call_method0("current_thread"))
                .and_then(|t| t.setattr("name", format!("waitress-{index}")));
            if let Err(e) = named {
                log::debug!("cannot name app thread {index}: {e}");
            }
        });
        Ok(Box::new(WsgiThread {
            shared: self.shared.clone(),
            cell: RequestCell::new(),
            header_keys: HeaderKeys::default(),
            state: Some(state),
        }))
    }

    /// The end of a drain (every app thread has exited): run the app's `atexit`
    /// callbacks and flush stdio; the worker then leaves with `_exit`, never running
    /// Py_Finalize (which could wait forever on the app's own threads).
    fn shutdown(&self) {
        if !self.own_process {
            return;
        }
        Python::attach(|py| {
            let run = py
                .import("atexit")
                .and_then(|a| a.call_method0("_run_exitfuncs"));
            if let Err(e) = run {
                log::warn!(
                    "worker {}: atexit callbacks failed: {e}",
                    std::process::id()
                );
            }
            if let Ok(sys) = py.import("sys") {
                for stream in ["stdout", "stderr"] {
                    if let Ok(s) = sys.getattr(stream) {
                        let _ = s.call_method0("flush");
                    }
                }
            }
        });
    }
}

/// One app thread's WSGI state.
pub struct WsgiThread {
    shared: Arc<Shared>,
    cell: Arc<RequestCell>,
    header_keys: HeaderKeys,
    /// Some until `exit`.
    state: Option<ThreadState>,
}

impl EmbeddedThread for WsgiThread {
    fn handle(&mut self, view: &RequestView<'_>, host: &mut dyn HostRequest) -> Outcome {
        let _live = self.cell.arm(view.id, host);
        // One GIL acquire per request, through this thread's own thread state.
        Python::attach(|py| serve::serve(py, &self.shared, &mut self.header_keys, &self.cell, view))
    }

    fn exit(mut self: Box<Self>) {
        // Python objects are released with the GIL, before the thread state goes.
        Python::attach(|_| drop(std::mem::take(&mut self.header_keys)));
        if let Some(state) = self.state.take() {
            state.destroy();
        }
    }
}
