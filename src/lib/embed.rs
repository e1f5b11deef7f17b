//! What a process that embeds the server plugs into it: the Python extension
//! `waitressd._native` (crate `waitressd-python`, under `python/`) runs the whole
//! server inside a Python interpreter and installs an `Embedder`, through which
//! workers load apps named `module:callable` and the master forks the way CPython
//! requires. The cargo-built binary installs none: it hands Python apps to a Python
//! that has waitressd installed (`run::delegate_to_python`).
//!
//! Installed once, before the master starts; read by the master (fork hooks) and by
//! workers (app loading). Nothing here is specific to Python.
use crate::app::{EmbeddedApp, HostInfo};
use crate::config::PythonApp;
use std::sync::OnceLock;

/// The embedding process's side.
pub trait Embedder: Send + Sync {
    /// In a worker, after fork, on its main thread: import and prepare the app.
    fn load_app(
        &self,
        app: &PythonApp,
        info: &HostInfo,
        opts: &[(String, String)],
    ) -> Result<Box<dyn EmbeddedApp>, String>;

    /// In the master, right before fork(2).
    fn before_fork(&self);
    /// In the master, right after fork(2).
    fn after_fork_in_parent(&self);
    /// In the new worker, right after fork(2), before anything else runs.
    fn after_fork_in_child(&self);
}

static EMBEDDER: OnceLock<&'static dyn Embedder> = OnceLock::new();

/// Install the embedder (once per process; later calls are ignored).
pub fn install(embedder: &'static dyn Embedder) {
    let _ = EMBEDDER.set(embedder);
}

/// The installed embedder, if this process has one.
pub fn embedder() -> Option<&'static dyn Embedder> {
    EMBEDDER.get().copied()
}
