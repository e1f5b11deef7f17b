//! `waitressd._native`: the waitressd server inside CPython.
//!
//! `main(argv)` runs the whole server — the same `waitressd::run::main` as the cargo
//! binary — in the calling Python process, with this crate installed as the
//! server's `Embedder`: the master forks workers with CPython's fork hooks, and each
//! worker imports the WSGI app named on the command line and serves it through the
//! bridge in `wsgi/`. Because the interpreter is the venv's own `python`, the venv's
//! site-packages and C extensions work as in any Python program (no dlopen of
//! libpython, no RTLD_GLOBAL trap).
//!
//! Which thread does what: `main` runs on the Python main thread, detached from the
//! interpreter while the master supervises; workers' main threads import the app and
//! then run the I/O loop without the GIL; app threads run requests with it.
#![deny(unsafe_code)]

mod cell;
mod gil;
mod wsgi;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use waitressd::app::{EmbeddedApp, HostInfo};
use waitressd::config::settings::{Kind, SETTINGS};
use waitressd::config::{AppSpec, Config, ConfigSource, PythonApp};
use waitressd::embed::{self, Embedder};

/// Set in a worker forked by this process: its main thread holds the GIL from the
/// fork until the app is loaded, and its exit may run `atexit` (it is not the
/// caller's process).
static FORKED: AtomicBool = AtomicBool::new(false);

/// The app object `serve(app)` was given, for the workers (forked, or this very
/// process) to serve.
static PRELOADED: Mutex<Option<Py<PyAny>>> = Mutex::new(None);

/// The server's hooks into this interpreter.
struct PythonEmbedder;

impl Embedder for PythonEmbedder {
    fn load_app(
        &self,
        app: &PythonApp,
        info: &HostInfo,
        opts: &[(String, String)],
    ) -> Result<Box<dyn EmbeddedApp>, String> {
        let forked = FORKED.load(Ordering::Relaxed);
        let loaded = Python::attach(|py| {
            if app.preloaded {
                let object = PRELOADED
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .map(|o| o.clone_ref(py))
                    .ok_or_else(|| "no app object was given to serve()".to_string())?;
                wsgi::app::WsgiApp::from_object(py, object, &app.target, info, opts, forked)
            } else {
                wsgi::app::WsgiApp::boot(py, app, info, opts)
            }
        });
        if forked {
            // The worker's main thread runs the I/O loop from here on: never Python.
            gil::release_main_thread();
        }
        loaded.map(|app| Box::new(app) as Box<dyn EmbeddedApp>)
    }

    fn before_fork(&self) {
        gil::before_fork();
    }

    fn after_fork_in_parent(&self) {
        gil::after_fork_in_parent();
    }

    fn after_fork_in_child(&self) {
        gil::after_fork_in_child();
        FORKED.store(true, Ordering::Relaxed);
    }
}

static EMBEDDER: PythonEmbedder = PythonEmbedder;

/// Run waitressd with this command line (program name first); returns its exit
/// status. Blocks until the server stops.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<OsString>) -> PyResult<i32> {
    embed::install(&EMBEDDER);
    release_python_signal_handlers(py)?;
    let code = py.detach(|| waitressd::run::main(argv));
    Ok(code.as_i32())
}

/// `waitressd.serve(app, **kw)` once the keywords are strings: serve `app` until
/// stopped (Ctrl-C or TERM), in this process with one worker, with forked workers
/// otherwise. Raises ValueError for a bad setting.
#[pyfunction]
#[pyo3(name = "serve")]
fn serve_app(
    py: Python<'_>,
    app: Py<PyAny>,
    settings: Vec<(String, String)>,
    describe: String,
) -> PyResult<()> {
    let spec = AppSpec::Python(PythonApp {
        target: describe,
        call: false,
        preloaded: true,
    });
    let cfg = Config::from_keywords(&settings, spec.clone()).map_err(PyValueError::new_err)?;
    embed::install(&EMBEDDER);
    *PRELOADED.lock().unwrap_or_else(|p| p.into_inner()) = Some(app);
    let saved = save_python_signal_handlers(py)?;
    release_python_signal_handlers(py)?;
    let source = ConfigSource::Keywords {
        settings,
        app: spec,
    };
    let code = py.detach(|| waitressd::run::serve_embedded(cfg, source));
    restore_python_signal_handlers(py, saved)?;
    PRELOADED.lock().unwrap_or_else(|p| p.into_inner()).take();
    match code {
        waitressd::exit::Code::Ok => Ok(()),
        other => Err(PyRuntimeError::new_err(format!(
            "waitressd stopped with status {} (the log says why)",
            other.as_i32()
        ))),
    }
}

/// The effective configuration `serve(**kw)` would use, as `--check-config` prints it.
#[pyfunction]
fn check_settings(settings: Vec<(String, String)>) -> PyResult<String> {
    let spec = AppSpec::Python(PythonApp {
        target: "app".into(),
        call: false,
        preloaded: true,
    });
    let cfg = Config::from_keywords(&settings, spec).map_err(PyValueError::new_err)?;
    Ok(cfg.to_json().to_string())
}

/// `serve()`'s keywords and how each is read: [(name, kind)], from the settings table.
#[pyfunction]
fn keywords() -> Vec<(&'static str, &'static str)> {
    SETTINGS
        .iter()
        .filter(|s| s.is_keyword())
        .map(|s| {
            let kind = match s.kind {
                Kind::Int => "int",
                Kind::Bool => "bool",
                Kind::List => "list",
                Kind::Octal => "octal",
                Kind::KeyValues => "keyvalues",
                Kind::Text | Kind::Path | Kind::Switch => "text",
            };
            (s.key, kind)
        })
        .collect()
}

const SERVER_SIGNALS: [&str; 7] = [
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGTTIN", "SIGTTOU",
];

/// The Python-level handlers of the server's signals, to put back after `serve()`.
fn save_python_signal_handlers(py: Python<'_>) -> PyResult<Vec<(Py<PyAny>, Py<PyAny>)>> {
    let signal = py.import("signal")?;
    SERVER_SIGNALS
        .iter()
        .map(|name| {
            let signum = signal.getattr(*name)?;
            let handler = signal.call_method1("getsignal", (&signum,))?;
            Ok((signum.unbind(), handler.unbind()))
        })
        .collect()
}

fn restore_python_signal_handlers(
    py: Python<'_>,
    saved: Vec<(Py<PyAny>, Py<PyAny>)>,
) -> PyResult<()> {
    let signal = py.import("signal")?;
    for (signum, handler) in saved {
        // None: a handler Python did not install; leave what is there.
        if !handler.is_none(py) {
            signal.call_method1("signal", (signum, handler))?;
        }
    }
    Ok(())
}

/// Python's own SIGINT handler (KeyboardInterrupt) would be chained behind the
/// master's, and raise in this thread once `main` returns: the server owns these
/// signals while it runs.
fn release_python_signal_handlers(py: Python<'_>) -> PyResult<()> {
    let signal = py.import("signal")?;
    let default = signal.getattr("SIG_DFL")?;
    for name in SERVER_SIGNALS {
        let signum = signal.getattr(name)?;
        let current = signal.call_method1("getsignal", (&signum,))?;
        if current.is_callable() {
            signal.call_method1("signal", (signum, &default))?;
        }
    }
    Ok(())
}

/// Log through the server's logger (for waitressd's own Python code).
#[pyfunction]
#[pyo3(name = "_log")]
fn log_message(level: &str, message: &str) {
    match level {
        "error" => log::error!("{message}"),
        "warning" => log::warn!("{message}"),
        "info" => log::info!("{message}"),
        _ => log::debug!("{message}"),
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(log_message, m)?)?;
    m.add_function(wrap_pyfunction!(serve_app, m)?)?;
    m.add_function(wrap_pyfunction!(check_settings, m)?)?;
    m.add_function(wrap_pyfunction!(keywords, m)?)?;
    m.add(
        "ClientDisconnected",
        m.py().get_type::<wsgi::ClientDisconnected>(),
    )?;
    m.add_class::<wsgi::FileWrapper>()?;
    m.add_class::<wsgi::InputStream>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
