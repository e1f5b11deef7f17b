//! Every setting, once: its name (Waitress's where Waitress has the setting), kind,
//! documented default, where it may come from, its `--help` group and its one-line
//! help. Derived from this table: the `--help` text and groups (`command`), the keys
//! the config file, `WAITRESSD_<KEY>` and `waitressd.serve(**kw)` accept (`layers`,
//! `python/waitressd`), and the README's options table (`options_markdown`). Checked
//! against it by tests: clap's flags and defaults, `--check-config`'s keys, the
//! README's migration table. Pure data; no I/O.

/// What kind of value a setting takes (how strings from files and keywords are read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A whole number.
    Int,
    /// on/off: `--x` / `--no-x`; in files and keywords Waitress's `asbool` words.
    Bool,
    /// Several values: repeatable on the command line, space-separated elsewhere.
    List,
    /// An octal file mode ("600").
    Octal,
    Path,
    /// KEY=VALUE pairs (repeatable; space-separated elsewhere).
    KeyValues,
    /// A switch that only the command line has (`--check-config`).
    Switch,
}

/// Where a setting comes from besides the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The command line only.
    CommandLine,
    /// Also the config file and `WAITRESSD_<KEY>`, not `serve()` (which takes the
    /// app as an object).
    FileAndEnv,
    /// Also the config file, `WAITRESSD_<KEY>`, and a keyword of `waitressd.serve`.
    Everywhere,
}

/// Whose setting it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// One of Waitress's adjustments (`waitress/adjustments.py`), same name, same
    /// meaning.
    Waitress,
    /// A `waitress-serve` argument that is not an adjustment (`--call`, APP).
    WaitressServe,
    /// waitressd's own.
    Ours,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The config-file key, the `serve()` keyword, the `--check-config` key; the flag
    /// is `--` + this with '-' for '_'.
    pub key: &'static str,
    pub kind: Kind,
    /// The value placeholder in `--help` and the README ("" for a flag without one).
    pub value: &'static str,
    /// The default as the README shows it ("" = none).
    pub default: &'static str,
    pub reach: Reach,
    pub origin: Origin,
    /// The `--help` heading.
    pub group: &'static str,
    pub help: &'static str,
}

impl Setting {
    /// `--threads`; APP for the positional app.
    pub fn flag(&self) -> String {
        if self.key == "app" {
            "APP".to_string()
        } else {
            format!("--{}", self.key.replace('_', "-"))
        }
    }

    /// The clap ids that set it (a boolean has its `no_` twin).
    pub fn clap_ids(&self) -> Vec<String> {
        match self.kind {
            Kind::Bool => vec![self.key.to_string(), format!("no_{}", self.key)],
            _ => vec![self.key.to_string()],
        }
    }

    /// Settable from a config file and the environment.
    pub fn in_files(&self) -> bool {
        self.reach != Reach::CommandLine
    }

    /// A keyword of `waitressd.serve()`.
    pub fn is_keyword(&self) -> bool {
        self.reach == Reach::Everywhere
    }

    /// Whether `--check-config` reports it under its own key. Not: `host`, `port`,
    /// `ipv4` and `ipv6`, which it reports as the addresses of `listen`; the
    /// settings accepted and ignored; the command line's own switches.
    pub fn is_reported(&self) -> bool {
        !matches!(
            self.key,
            "host"
                | "port"
                | "ipv4"
                | "ipv6"
                | "send_bytes"
                | "asyncore_use_poll"
                | "asyncore_loop_timeout"
                | "config_section"
                | "check_config"
        )
    }
}

const CONFIGURATION: &str = "Configuration";
const LISTENING: &str = "Listening";
const WORKERS: &str = "Workers";
const LIMITS: &str = "HTTP limits";
const ENVIRON: &str = "Request environment";
const PROXY: &str = "Proxy";
const LOGGING: &str = "Logging";
const APP: &str = "App";
const DEPRECATED: &str = "Deprecated (accepted, no effect)";

// One row of the table: a positional constructor keeps each row to two lines.
#[allow(clippy::too_many_arguments)]
const fn s(
    key: &'static str,
    kind: Kind,
    value: &'static str,
    default: &'static str,
    reach: Reach,
    origin: Origin,
    group: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        key,
        kind,
        value,
        default,
        reach,
        origin,
        group,
        help,
    }
}

use Kind::*;
use Origin::{Ours, Waitress, WaitressServe};
use Reach::{CommandLine, Everywhere, FileAndEnv};

/// Every setting, in the order of the README's options table.
pub const SETTINGS: &[Setting] = &[
    s("app", Text, "APP", "(required)", FileAndEnv, WaitressServe, APP,
      "a Python WSGI app as `module:callable` (`package.module:obj.attr`), or the path of a native app's shared library"),
    s("call", Switch, "", "off", FileAndEnv, WaitressServe, APP,
      "call the named Python object (no arguments) to get the WSGI app, as `waitress-serve --call` does"),
    s("python", Path, "PATH", "`$VIRTUAL_ENV`", FileAndEnv, Ours, APP,
      "for a Python app run by the cargo-built binary: the Python (an interpreter, or a virtualenv) to hand it to"),
    s("app_opt", KeyValues, "KEY=VALUE", "", Everywhere, Ours, APP,
      "repeatable; passed to a native app's `init`, and to a Python app as the dict `waitressd.app_options`"),
    s("host", Text, "ADDR", "`0.0.0.0`", Everywhere, Waitress, LISTENING,
      "address to listen on, with `--port` (when no `--listen`)"),
    s("port", Int, "PORT", "`8080`", Everywhere, Waitress, LISTENING,
      "port to listen on; 0 picks a free port (the log shows it)"),
    s("listen", List, "HOST:PORT", "", Everywhere, Waitress, LISTENING,
      "repeatable; `*:8080` = IPv4 and IPv6, `[::1]:8080` = IPv6"),
    s("ipv4", Bool, "", "on", Everywhere, Waitress, LISTENING,
      "listen on IPv4 addresses"),
    s("ipv6", Bool, "", "on", Everywhere, Waitress, LISTENING,
      "listen on IPv6 addresses (v6 sockets are IPV6_V6ONLY)"),
    s("unix_socket", Path, "PATH", "", Everywhere, Waitress, LISTENING,
      "listen on a unix socket (alone, unless TCP settings are given too)"),
    s("unix_socket_perms", Octal, "OCTAL", "`600`", Everywhere, Waitress, LISTENING,
      "mode of the socket file; a stale file is replaced only if nothing answers on it"),
    s("backlog", Int, "N", "`1024`", Everywhere, Waitress, LISTENING,
      "listen backlog"),
    s("workers", Int, "N", "`$WEB_CONCURRENCY` or `1`", Everywhere, Ours, WORKERS,
      "worker processes"),
    s("graceful_timeout", Int, "S", "`30`", Everywhere, Ours, WORKERS,
      "time a stopping worker gets to finish its requests before SIGKILL"),
    s("timeout", Int, "S", "`30`", Everywhere, Ours, WORKERS,
      "a worker whose I/O loop sends no heartbeat for this long is aborted (SIGABRT, then SIGKILL after 2 s) and replaced (0 = off)"),
    s("boot_timeout", Int, "S", "`60`", Everywhere, Ours, WORKERS,
      "time a new worker gets to load the app and become ready"),
    s("max_requests", Int, "N", "`0`", Everywhere, Ours, WORKERS,
      "recycle a worker after N requests (its replacement is ready first); 0 = never"),
    s("max_requests_jitter", Int, "N", "`0`", Everywhere, Ours, WORKERS,
      "add 0..N at random per worker to `--max-requests`"),
    s("reload_surge", Int, "N", "`0`", Everywhere, Ours, WORKERS,
      "on reload, boot N new workers at a time, each ready one replacing an old one (0 = the whole generation at once)"),
    s("pid_file", Path, "PATH", "", Everywhere, Ours, WORKERS,
      "the master's pid, written atomically after binding, removed at exit"),
    s("threads", Int, "N", "`4`", Everywhere, Waitress, WORKERS,
      "app threads per worker"),
    s("cpu_affinity", Text, "MODE", "`off`", Everywhere, Ours, WORKERS,
      "`off`, `auto` or a CPU list like `0,2-3`: bind each worker, all its threads, to one CPU (slot i on the i-th usable or listed CPU, round robin)"),
    s("recv_bytes", Int, "N", "`8192`", Everywhere, Waitress, LIMITS,
      "bytes per socket read"),
    s("send_bytes", Int, "N", "", Everywhere, Waitress, LIMITS,
      "deprecated in Waitress; accepted, ignored with a warning"),
    s("inbuf_overflow", Int, "N", "`524288`", Everywhere, Waitress, LIMITS,
      "request bodies above this spill to a temp file"),
    s("outbuf_overflow", Int, "N", "`1048576`", Everywhere, Waitress, LIMITS,
      "pending output above this spills to a temp file"),
    s("outbuf_high_watermark", Int, "N", "`16777216`", Everywhere, Waitress, LIMITS,
      "an app write blocks while this much output is queued"),
    s("connection_limit", Int, "N", "`100`", Everywhere, Waitress, LIMITS,
      "stop accepting above this many open connections (per worker)"),
    s("cleanup_interval", Int, "S", "`30`", Everywhere, Waitress, LIMITS,
      "how often idle connections are checked"),
    s("channel_timeout", Int, "S", "`120`", Everywhere, Waitress, LIMITS,
      "idle seconds before a connection is closed"),
    s("max_request_header_size", Int, "N", "`262144`", Everywhere, Waitress, LIMITS,
      "larger request heads get 431"),
    s("max_request_body_size", Int, "N", "`1073741824`", Everywhere, Waitress, LIMITS,
      "larger bodies get 413"),
    s("request_head_timeout", Int, "S", "`60`", Everywhere, Ours, LIMITS,
      "a request head must arrive within this once started, else 408 (0 = no limit)"),
    s("channel_request_lookahead", Int, "N", "`0`", Everywhere, Waitress, LIMITS,
      "requests parsed ahead while one is served"),
    s("url_scheme", Text, "S", "`http`", Everywhere, Waitress, ENVIRON,
      "`wsgi.url_scheme` of requests"),
    s("url_prefix", Text, "P", "`\"\"`", Everywhere, Waitress, ENVIRON,
      "mount point: moved from PATH_INFO to SCRIPT_NAME"),
    s("ident", Text, "S", "`waitress`", Everywhere, Waitress, ENVIRON,
      "the `Server` header and SERVER_SOFTWARE (empty = no header)"),
    s("server_name", Text, "S", "`waitress.invalid`", Everywhere, Waitress, ENVIRON,
      "SERVER_NAME when the request has no Host"),
    s("expose_tracebacks", Bool, "", "off", Everywhere, Waitress, ENVIRON,
      "show the app's error detail (a Python traceback) in 500 bodies"),
    s("trusted_proxy", Text, "ADDR", "", Everywhere, Waitress, PROXY,
      "a trusted proxy's address, `localhost` (unix sockets), or `*`"),
    s("trusted_proxy_count", Int, "N", "`1`", Everywhere, Waitress, PROXY,
      "trusted hops, counted from the right"),
    s("trusted_proxy_headers", List, "H", "`x-forwarded-proto`", Everywhere, Waitress, PROXY,
      "`forwarded`, or x-forwarded-for/-host/-proto/-port/-by"),
    s("log_untrusted_proxy_headers", Bool, "", "off", Everywhere, Waitress, PROXY,
      "log proxy headers removed from untrusted requests"),
    s("clear_untrusted_proxy_headers", Bool, "", "on", Everywhere, Waitress, PROXY,
      "remove proxy headers the app cannot trust"),
    s("log_socket_errors", Bool, "", "on", Everywhere, Waitress, LOGGING,
      "log socket errors (resets, broken pipes) as warnings"),
    s("log_level", Text, "L", "`info`", Everywhere, Ours, LOGGING,
      "`error`, `warn`, `info`, `debug`, `trace`; `RUST_LOG` overrides"),
    s("access_log", Path, "PATH|-", "off", Everywhere, Ours, LOGGING,
      "one line per request (see Access log)"),
    s("access_log_format", Text, "F", "`combined`", Everywhere, Ours, LOGGING,
      "`combined` or `json`"),
    s("config", Path, "FILE", "", CommandLine, Ours, CONFIGURATION,
      "read settings from a PasteDeploy-style INI file (see Migrating from Waitress)"),
    s("config_section", Text, "NAME", "`server:main`", CommandLine, Ours, CONFIGURATION,
      "the section of `--config` to read"),
    s("check_config", Switch, "", "", CommandLine, Ours, CONFIGURATION,
      "print the effective configuration as JSON and exit (2 on error)"),
    s("asyncore_use_poll", Bool, "", "", Everywhere, Waitress, DEPRECATED,
      "accepted, ignored with a warning (waitressd uses epoll)"),
    s("asyncore_loop_timeout", Int, "S", "", Everywhere, Waitress, DEPRECATED,
      "accepted, ignored with a warning"),
];

/// The setting with this key.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// How `--help` shows one clap id (a setting's, or a boolean's `no_` twin).
pub struct HelpLine {
    pub help: String,
    pub group: &'static str,
    /// The value placeholder, for settings that take a value.
    pub value: Option<&'static str>,
}

/// The `--help` line of a clap id (`threads`, or a boolean's `no_threads` twin).
pub fn help_for(id: &str) -> Option<HelpLine> {
    if let Some(s) = setting(id) {
        let value = (!s.value.is_empty() && s.key != "app").then_some(s.value);
        return Some(HelpLine {
            help: capitalize_first(s.help),
            group: s.group,
            value,
        });
    }
    let s = setting(id.strip_prefix("no_")?)?;
    (s.kind == Kind::Bool).then(|| HelpLine {
        help: format!("The opposite of {}.", s.flag()),
        group: s.group,
        value: None,
    })
}

fn capitalize_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}

/// The README's options table, rendered from `SETTINGS`.
pub fn options_markdown() -> String {
    let mut out = String::from("| Option | Default | Meaning |\n|---|---|---|\n");
    for s in SETTINGS {
        let option = match (s.kind, s.value) {
            (Kind::Bool, _) => format!("`--[no-]{}`", s.key.replace('_', "-")),
            _ if s.key == "app" => "`APP`".to_string(),
            (_, "") => format!("`{}`", s.flag()),
            (_, value) => format!("`{} {value}`", s.flag()),
        };
        out.push_str(&format!("| {option} | {} | {} |\n", s.default, s.help));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_spelled_as_flags() {
        let mut keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len());
        assert_eq!(setting("max_requests").unwrap().flag(), "--max-requests");
        assert_eq!(help_for("no_ipv6").unwrap().help, "The opposite of --ipv6.");
        assert!(options_markdown().contains("| `--threads N` | `4` | app threads per worker |"));
    }
}
