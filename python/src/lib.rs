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

use pyo3::prelude::*;
use std::ffi::OsString;
use waitressd::app::{EmbeddedApp, HostInfo};
use waitressd::config::PythonApp;
use waitressd::embed::{self, Embedder};

/// The server's hooks into this interpreter.
struct PythonEmbedder;

impl Embedder for PythonEmbedder {
    fn load_app(
        &self,
        app: &PythonApp,
        info: &HostInfo,
        opts: &[(String, String)],
    ) -> Result<Box<dyn EmbeddedApp>, String> {
        let loaded = Python::attach(|py| wsgi::app::WsgiApp::boot(py, app, info, opts));
        // The worker's main thread runs the I/O loop from here on: never Python.
        gil::release_main_thread();
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

/// Python's own SIGINT handler (KeyboardInterrupt) would be chained behind the
/// master's, and raise in this thread once `main` returns: the server owns these
/// signals while it runs.
fn release_python_signal_handlers(py: Python<'_>) -> PyResult<()> {
    let signal = py.import("signal")?;
    let default = signal.getattr("SIG_DFL")?;
    for name in [
        "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGTTIN", "SIGTTOU",
    ] {
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
    m.add(
        "ClientDisconnected",
        m.py().get_type::<wsgi::ClientDisconnected>(),
    )?;
    m.add_class::<wsgi::FileWrapper>()?;
    m.add_class::<wsgi::InputStream>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
