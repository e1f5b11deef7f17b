//! The pid file: written atomically (temp file + rename) once the sockets are bound,
//! so a failed start never clobbers a running server's file; removed at exit only
//! if it still holds our pid. Master process only.
use std::path::{Path, PathBuf};

pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Refuse to start if the file names a live process; else write ours.
    pub fn create(path: &Path) -> Result<PidFile, String> {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
                if alive && pid as u32 != std::process::id() {
                    return Err(format!(
                        "pid file {} names a running process ({pid}); is another waitressd running?",
                        path.display()
                    ));
                }
            }
        }
        let pid = std::process::id();
        let tmp = path.with_extension(format!("tmp.{pid}"));
        std::fs::write(&tmp, format!("{pid}\n"))
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write pid file {}: {e}", path.display()))?;
        Ok(PidFile {
            path: path.to_path_buf(),
            pid,
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.path)
            .map(|t| t.trim() == self.pid.to_string())
            .unwrap_or(false);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
