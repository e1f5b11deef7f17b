//! The command line, spelled exactly as `waitress-serve` spells it.
//!
//! This is the raw, unvalidated form (ripgrep's "low-level args"): clap parses types,
//! `Config::from_cli` checks ranges and relations. No I/O happens here.
use clap::{ArgAction, Parser};
use std::path::PathBuf;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "waitressd",
    version,
    about = "An HTTP/1.x application server for Python WSGI apps and native apps (app.so), with Waitress's settings",
    after_help = "Every setting keeps its waitress-serve name and default. See README.md."
)]
pub struct Cli {
    /// The app: the path of a native app (app.so), or a Python WSGI app as
    /// MODULE:CALLABLE (package.module:obj.attr); or `app` in the config file.
    #[arg(value_name = "APP")]
    pub app: Option<PathBuf>,

    // ----- Configuration -----
    /// Read settings from this PasteDeploy-style INI file ([server:main] section).
    #[arg(long, value_name = "FILE", help_heading = "Configuration")]
    pub config: Option<PathBuf>,
    /// The section of --config to read.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "server:main",
        help_heading = "Configuration"
    )]
    pub config_section: String,
    /// Print the effective configuration as JSON and exit (2 on the first error).
    #[arg(long, help_heading = "Configuration")]
    pub check_config: bool,

    // ----- Listening -----
    /// Hostname or IP address to listen on (used with --port when no --listen is given).
    #[arg(long, value_name = "ADDR", help_heading = "Listening")]
    pub host: Option<String>,
    /// TCP port to listen on (0 = any free port).
    #[arg(long, value_name = "PORT", help_heading = "Listening")]
    pub port: Option<u16>,
    /// Listen on HOST:PORT; repeatable. "*:8080" binds IPv4 and IPv6, "[::1]:8080" IPv6.
    #[arg(long, value_name = "HOST:PORT", action = ArgAction::Append, help_heading = "Listening")]
    pub listen: Vec<String>,
    /// Listen on IPv4 addresses (default on).
    #[arg(long, overrides_with = "no_ipv4", help_heading = "Listening")]
    pub ipv4: bool,
    /// Do not listen on IPv4 addresses.
    #[arg(long, help_heading = "Listening")]
    pub no_ipv4: bool,
    /// Listen on IPv6 addresses (default on).
    #[arg(long, overrides_with = "no_ipv6", help_heading = "Listening")]
    pub ipv6: bool,
    /// Do not listen on IPv6 addresses.
    #[arg(long, help_heading = "Listening")]
    pub no_ipv6: bool,
    /// Listen on a unix socket at PATH (in addition to TCP only if --listen/--host/--port is given).
    #[arg(long, value_name = "PATH", help_heading = "Listening")]
    pub unix_socket: Option<std::path::PathBuf>,
    /// Octal permissions of the unix socket file.
    #[arg(
        long,
        value_name = "OCTAL",
        default_value = "600",
        help_heading = "Listening"
    )]
    pub unix_socket_perms: String,
    /// Backlog of the listening sockets.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 1024,
        help_heading = "Listening"
    )]
    pub backlog: i32,

    // ----- Workers -----
    /// Worker processes (default: $WEB_CONCURRENCY, else 1).
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        help_heading = "Workers"
    )]
    pub workers: Option<i64>,
    /// Seconds a stopping worker may take to finish its requests before SIGKILL.
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 30,
        help_heading = "Workers"
    )]
    pub graceful_timeout: u64,
    /// Seconds without an I/O loop heartbeat before a worker is aborted and replaced (0 = off).
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 30,
        help_heading = "Workers"
    )]
    pub timeout: u64,
    /// Seconds a new worker may take to load the app and become ready.
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 60,
        help_heading = "Workers"
    )]
    pub boot_timeout: u64,
    /// Recycle a worker after this many requests (0 = never).
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 0,
        help_heading = "Workers"
    )]
    pub max_requests: u64,
    /// Add up to this many requests, at random per worker, to --max-requests.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 0,
        help_heading = "Workers"
    )]
    pub max_requests_jitter: u64,
    /// On reload, how many new workers boot at a time; each one that is ready
    /// replaces an old one. 0 = the whole new generation at once (the default:
    /// fastest, and a failed reload never touched an old worker).
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 0,
        help_heading = "Workers"
    )]
    pub reload_surge: u64,
    /// Write the master's pid to this file (atomically, after binding); removed at exit.
    #[arg(long, value_name = "PATH", help_heading = "Workers")]
    pub pid_file: Option<std::path::PathBuf>,
    /// Number of app threads in each worker.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 4,
        help_heading = "Workers"
    )]
    pub threads: usize,

    // ----- HTTP limits and buffers -----
    /// Bytes read from a socket in one recv.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 8192,
        help_heading = "HTTP limits"
    )]
    pub recv_bytes: usize,
    /// Deprecated in Waitress; accepted and ignored.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        help_heading = "HTTP limits"
    )]
    pub send_bytes: Option<String>,
    /// Request bodies larger than this spill from memory to a temp file.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 524_288,
        help_heading = "HTTP limits"
    )]
    pub inbuf_overflow: u64,
    /// Pending response output larger than this spills to a temp file.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 1_048_576,
        help_heading = "HTTP limits"
    )]
    pub outbuf_overflow: u64,
    /// An app write blocks while this much output is queued for its connection.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 16_777_216,
        help_heading = "HTTP limits"
    )]
    pub outbuf_high_watermark: u64,
    /// Stop accepting new connections above this many open ones.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 100,
        help_heading = "HTTP limits"
    )]
    pub connection_limit: usize,
    /// Seconds between checks for inactive connections.
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 30,
        help_heading = "HTTP limits"
    )]
    pub cleanup_interval: u64,
    /// Seconds of inactivity after which a connection is closed.
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 120,
        help_heading = "HTTP limits"
    )]
    pub channel_timeout: u64,
    /// Seconds the whole request head may take to arrive once it has started; slower
    /// clients get 408 (slowloris). 0 = no limit.
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 60,
        help_heading = "HTTP limits"
    )]
    pub request_head_timeout: u64,
    /// Largest request head (request line + headers) in bytes; larger gets 431.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 262_144,
        help_heading = "HTTP limits"
    )]
    pub max_request_header_size: usize,
    /// Largest request body in bytes; larger gets 413.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 1_073_741_824,
        help_heading = "HTTP limits"
    )]
    pub max_request_body_size: u64,
    /// Requests read ahead on a connection while one is being served.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 0,
        help_heading = "HTTP limits"
    )]
    pub channel_request_lookahead: usize,

    // ----- Request environment -----
    /// Default wsgi.url_scheme ("http" or "https").
    #[arg(
        long,
        value_name = "SCHEME",
        default_value = "http",
        help_heading = "Request environment"
    )]
    pub url_scheme: String,
    /// Mount point: stripped from PATH_INFO and put in SCRIPT_NAME.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "",
        help_heading = "Request environment"
    )]
    pub url_prefix: String,
    /// The value of the Server header ("" = none).
    #[arg(
        long,
        value_name = "STR",
        default_value = "waitress",
        help_heading = "Request environment"
    )]
    pub ident: String,
    /// SERVER_NAME for requests without a Host header.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "waitress.invalid",
        help_heading = "Request environment"
    )]
    pub server_name: String,
    /// Show the app's error detail in 500 responses.
    #[arg(
        long,
        overrides_with = "no_expose_tracebacks",
        help_heading = "Request environment"
    )]
    pub expose_tracebacks: bool,
    /// Never show the app's error detail in 500 responses (default).
    #[arg(long, help_heading = "Request environment")]
    pub no_expose_tracebacks: bool,

    // ----- Proxy -----
    /// The address of a trusted proxy, "localhost" (unix sockets), or "*".
    #[arg(long, value_name = "ADDR", help_heading = "Proxy")]
    pub trusted_proxy: Option<String>,
    /// How many trusted proxy hops to honour, counted from the right.
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        help_heading = "Proxy"
    )]
    pub trusted_proxy_count: Option<i64>,
    /// Headers to trust: forwarded, or any of x-forwarded-for, -host, -proto, -port, -by
    /// (space or comma separated; repeatable).
    #[arg(long, value_name = "HEADERS", action = ArgAction::Append, help_heading = "Proxy")]
    pub trusted_proxy_headers: Vec<String>,
    /// Log proxy headers removed from requests of untrusted peers.
    #[arg(
        long,
        overrides_with = "no_log_untrusted_proxy_headers",
        help_heading = "Proxy"
    )]
    pub log_untrusted_proxy_headers: bool,
    /// Do not log removed untrusted proxy headers (default).
    #[arg(long, help_heading = "Proxy")]
    pub no_log_untrusted_proxy_headers: bool,
    /// Remove proxy headers the app cannot trust (default).
    #[arg(
        long,
        overrides_with = "no_clear_untrusted_proxy_headers",
        help_heading = "Proxy"
    )]
    pub clear_untrusted_proxy_headers: bool,
    /// Keep untrusted proxy headers.
    #[arg(long, help_heading = "Proxy")]
    pub no_clear_untrusted_proxy_headers: bool,

    // ----- Logging -----
    /// Write an access log line per request to PATH ("-" = standard output).
    #[arg(long, value_name = "PATH", help_heading = "Logging")]
    pub access_log: Option<String>,
    /// Access log format: combined (Apache) or json.
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "combined",
        help_heading = "Logging"
    )]
    pub access_log_format: String,
    /// Log socket errors (resets, broken pipes) at warning level.
    #[arg(
        long,
        overrides_with = "no_log_socket_errors",
        help_heading = "Logging"
    )]
    pub log_socket_errors: bool,
    /// Log socket errors at debug level only.
    #[arg(long, help_heading = "Logging")]
    pub no_log_socket_errors: bool,
    /// Log level: error, warn, info, debug, trace (RUST_LOG overrides per module).
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        help_heading = "Logging"
    )]
    pub log_level: String,

    // ----- Accepted for waitress-serve compatibility (no effect) -----
    /// Waitress: use poll() in asyncore. Ignored (waitressd uses epoll).
    #[arg(
        long,
        overrides_with = "no_asyncore_use_poll",
        help_heading = "Deprecated (accepted, no effect)"
    )]
    pub asyncore_use_poll: bool,
    /// Waitress: the negation of --asyncore-use-poll. Ignored.
    #[arg(long, help_heading = "Deprecated (accepted, no effect)")]
    pub no_asyncore_use_poll: bool,
    /// Waitress: asyncore loop timeout. Ignored.
    #[arg(
        long,
        value_name = "SECS",
        help_heading = "Deprecated (accepted, no effect)"
    )]
    pub asyncore_loop_timeout: Option<String>,

    // ----- App -----
    /// Call the named Python object (with no arguments) to get the WSGI app, as
    /// waitress-serve --call does.
    #[arg(long, help_heading = "App")]
    pub call: bool,
    /// For a Python app, when this binary has no interpreter of its own: the Python
    /// to run it with (an interpreter, or a virtualenv directory). Default: the
    /// active virtualenv ($VIRTUAL_ENV).
    #[arg(long, value_name = "PATH", help_heading = "App")]
    pub python: Option<PathBuf>,
    /// An option passed to the app's init, KEY=VALUE; repeatable (a Python app reads
    /// them from the dict `waitressd.app_options`).
    #[arg(long, value_name = "KEY=VALUE", action = ArgAction::Append, help_heading = "App")]
    pub app_opt: Vec<String>,
}
