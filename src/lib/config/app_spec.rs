//! APP, the positional argument: a native app (the path of an app.so) or a Python
//! WSGI app named as `waitress-serve` names it (`module:callable`,
//! `package.module:obj.attr`). Pure: nothing is opened or imported here — the app is
//! loaded only in each worker, after fork (never in the master).
use std::ffi::OsStr;
use std::path::PathBuf;

/// Which app the workers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppSpec {
    /// A shared library implementing `include/waitressd_app.h`.
    Native(PathBuf),
    /// A WSGI callable, imported in each worker by an embedded interpreter.
    Python(PythonApp),
}

/// A WSGI app by name, as `waitress-serve` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonApp {
    /// `module:callable` (resolved with `pkgutil.resolve_name`).
    pub target: String,
    /// `--call`: the named object is a factory; call it (no arguments) for the app.
    pub call: bool,
    /// The app is an object the embedding process already holds (`serve(app)`);
    /// `target` only describes it. Workers use it as forked, never import it.
    pub preloaded: bool,
}

impl AppSpec {
    /// Classify APP. A name with a colon whose two sides are dotted Python
    /// identifiers is a WSGI app (a file by that name still wins); anything else is
    /// the path of a native app.
    pub fn from_arg(arg: &OsStr, call: bool) -> AppSpec {
        match arg.to_str() {
            Some(text) if is_python_target(text) && !std::path::Path::new(arg).exists() => {
                AppSpec::Python(PythonApp {
                    target: text.to_string(),
                    call,
                    preloaded: false,
                })
            }
            _ => AppSpec::Native(PathBuf::from(arg)),
        }
    }

    /// For logs and `--check-config`: the path, or `module:callable`.
    pub fn describe(&self) -> String {
        match self {
            AppSpec::Native(path) => path.display().to_string(),
            AppSpec::Python(p) => p.target.clone(),
        }
    }

    pub fn is_python(&self) -> bool {
        matches!(self, AppSpec::Python(_))
    }
}

/// `dotted.name:dotted.name`, each part a Python identifier (ASCII letters, digits,
/// underscores; not starting with a digit).
fn is_python_target(text: &str) -> bool {
    let Some((module, object)) = text.split_once(':') else {
        return false;
    };
    let dotted = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|part| {
                part.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    };
    dotted(module) && dotted(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> AppSpec {
        AppSpec::from_arg(OsStr::new(s), false)
    }

    #[test]
    fn python_names_and_paths() {
        for name in ["myapp:app", "pkg.mod:obj.attr", "_x:_y", "a1.b2:c3"] {
            assert!(spec(name).is_python(), "{name}");
        }
        for path in [
            "./app.so",
            "/srv/app.so",
            "app.so",
            "myapp",
            "my-app:app",
            "1mod:app",
            "mod:",
            ":app",
            "mod:a:b",
            "dir/mod:app",
        ] {
            assert!(!spec(path).is_python(), "{path}");
        }
        assert_eq!(
            AppSpec::from_arg(OsStr::new("m:f"), true),
            AppSpec::Python(PythonApp {
                target: "m:f".into(),
                call: true,
                preloaded: false,
            })
        );
    }
}
