//! dlopen an app.so and check its ABI: one clear line per way it can be wrong
//! (path, what was expected, what was found). Worker process only.
#![allow(unsafe_code)]

use libloading::os::unix::{Library, Symbol, RTLD_LOCAL, RTLD_NOW};
use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};
use waitressd_sdk::sys;

/// glibc's RTLD_NODELETE: keep the library mapped even if a handle is closed, so
/// thread-local destructors registered by the app never run into unmapped code.
const RTLD_NODELETE: i32 = 0x01000;

/// Why an app could not be loaded. Each prints as one line.
#[derive(Debug)]
pub enum LoadError {
    Missing {
        path: PathBuf,
    },
    NotLoadable {
        path: PathBuf,
        reason: String,
    },
    NoEntry {
        path: PathBuf,
        other_major: Option<u16>,
    },
    Refused {
        path: PathBuf,
    },
    WrongMajor {
        path: PathBuf,
        found: u16,
    },
    TooSmall {
        path: PathBuf,
        found: u32,
    },
    HostTooOld {
        path: PathBuf,
        wants_minor: u16,
    },
    MissingHook {
        path: PathBuf,
        hook: &'static str,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let expected_major = sys::WD_ABI_MAJOR;
        match self {
            LoadError::Missing { path } => write!(
                f,
                "cannot load app {}: expected a shared library file, found no such file",
                path.display()
            ),
            LoadError::NotLoadable { path, reason } => write!(
                f,
                "cannot load app {}: expected a shared library, found: {reason}",
                path.display()
            ),
            LoadError::NoEntry {
                path,
                other_major: Some(major),
            } => write!(
                f,
                "cannot load app {}: expected ABI major {expected_major} (symbol waitressd_app_v{expected_major}), found an app built for ABI major {major}",
                path.display()
            ),
            LoadError::NoEntry {
                path,
                other_major: None,
            } => write!(
                f,
                "cannot load app {}: expected the entry symbol waitressd_app_v{expected_major}, found none (not a waitressd app, or built without export_app!)",
                path.display()
            ),
            LoadError::Refused { path } => write!(
                f,
                "cannot load app {}: expected an app descriptor from waitressd_app_v{expected_major}, found NULL (the app refused this host; see its log line)",
                path.display()
            ),
            LoadError::WrongMajor { path, found } => write!(
                f,
                "cannot load app {}: expected ABI major {expected_major}, found ABI major {found} (rebuild it against this waitressd's include/waitressd_app.h)",
                path.display()
            ),
            LoadError::TooSmall { path, found } => write!(
                f,
                "cannot load app {}: expected a wd_app descriptor of at least {} bytes, found struct_size {found}",
                path.display(),
                std::mem::size_of::<sys::wd_app>()
            ),
            LoadError::HostTooOld { path, wants_minor } => write!(
                f,
                "cannot load app {}: expected an app for ABI {expected_major}.{} or older, found one that needs host minor {wants_minor} (upgrade waitressd)",
                path.display(),
                sys::WD_ABI_MINOR
            ),
            LoadError::MissingHook { path, hook } => write!(
                f,
                "cannot load app {}: expected a `{hook}` hook in its descriptor, found NULL",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// Open the library, find the entry symbol, call it, and check the descriptor.
/// The library is never closed.
pub(super) fn open(
    path: &Path,
    host: *const sys::wd_host,
) -> Result<&'static sys::wd_app, LoadError> {
    let owned = || path.to_path_buf();
    if !path.exists() {
        return Err(LoadError::Missing { path: owned() });
    }
    // A bare file name would make dlopen search the library path; the operator means
    // the file here.
    let path_for_dlopen = if path.components().count() == 1 {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    };
    // SAFETY: loading runs the library's constructors; the operator named this file
    // as the app to run, which is exactly the trust we extend to its code.
    let lib = unsafe {
        Library::open(
            Some(&path_for_dlopen),
            RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE,
        )
    }
    .map_err(|e| LoadError::NotLoadable {
        path: owned(),
        reason: dlerror_text(&e.to_string(), path),
    })?;
    // SAFETY: the symbol, if present, has the documented entry signature.
    let entry: Result<Symbol<sys::wd_entry_fn>, _> = unsafe { lib.get(sys::WD_ENTRY_SYMBOL) };
    let entry = match entry {
        Ok(e) => *e,
        Err(_) => {
            let other_major = (2u16..10).find(|major| {
                let name = format!("waitressd_app_v{major}\0");
                // SAFETY: only probing for presence; the symbol is never called.
                unsafe { lib.get::<*const ()>(name.as_bytes()) }.is_ok()
            });
            return Err(LoadError::NoEntry {
                path: owned(),
                other_major,
            });
        }
    };
    // The library stays loaded for the life of the process (RTLD_NODELETE, and the
    // handle is never closed).
    std::mem::forget(lib);
    // SAFETY: the entry point of a waitressd app, called with a host table that lives
    // for the rest of the process.
    let desc = unsafe { entry(host) };
    if desc.is_null() {
        return Err(LoadError::Refused { path: owned() });
    }
    // Read the fixed prefix first: an app built for another major may have another
    // layout after it.
    // SAFETY: every wd_app version starts with struct_size (u32) and abi_major (u16).
    let (struct_size, abi_major) = unsafe {
        let raw = desc.cast::<u8>();
        (
            std::ptr::read_unaligned(raw.cast::<u32>()),
            std::ptr::read_unaligned(raw.add(4).cast::<u16>()),
        )
    };
    if abi_major != sys::WD_ABI_MAJOR {
        return Err(LoadError::WrongMajor {
            path: owned(),
            found: abi_major,
        });
    }
    if (struct_size as usize) < std::mem::size_of::<sys::wd_app>() {
        return Err(LoadError::TooSmall {
            path: owned(),
            found: struct_size,
        });
    }
    // SAFETY: major and size match this host's wd_app; the descriptor is static.
    let desc: &'static sys::wd_app = unsafe { &*desc };
    if desc.min_host_minor > sys::WD_ABI_MINOR {
        return Err(LoadError::HostTooOld {
            path: owned(),
            wants_minor: desc.min_host_minor,
        });
    }
    if desc.handle.is_none() {
        return Err(LoadError::MissingHook {
            path: owned(),
            hook: "handle",
        });
    }
    if desc.init.is_none() {
        return Err(LoadError::MissingHook {
            path: owned(),
            hook: "init",
        });
    }
    Ok(desc)
}

/// dlerror's text repeats the path; keep only the part that says what is wrong.
fn dlerror_text(text: &str, path: &Path) -> String {
    let p = path.display().to_string();
    let cleaned = text
        .replace(&format!("{p}: "), "")
        .replace(&format!("./{p}: "), "");
    cleaned.trim().to_string()
}

/// Copy a NUL-terminated string from the descriptor (NULL → None).
pub(super) fn c_string(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the header documents name/version as NUL-terminated static strings.
    Some(
        unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned(),
    )
}
