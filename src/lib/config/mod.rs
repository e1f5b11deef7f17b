//! `Config`: the validated, typed settings every layer reads (ripgrep's "high-level
//! args"). Built from a command line (with `WAITRESSD_<KEY>` variables and a
//! `--config` file under it, `layers`) or from `waitressd.serve()`'s keywords, at
//! startup and again on every SIGHUP (`ConfigSource`); names and defaults are
//! Waitress's (`waitress/adjustments.py`). A bad value is a `ConfigError` whose one
//! line names the setting and the value; at startup the binary prints it and exits
//! with code 2, on a reload the master logs it and keeps the running configuration.
//! Imports no other module of the crate.
pub mod app_spec;
pub mod cli;
pub mod cpu_affinity;
pub mod ini;
pub mod layers;
pub mod listen;
pub mod proxy;
pub mod settings;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use app_spec::{AppSpec, PythonApp};
pub use cli::Cli;
pub use cpu_affinity::CpuAffinity;
pub use proxy::ProxyConfig;

/// A bad setting: one line naming it and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: String,
    pub value: String,
    pub why: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid value '{}' for '--{}': {}",
            self.value, self.setting, self.why
        )
    }
}

impl std::error::Error for ConfigError {}

fn bad(setting: &str, value: impl fmt::Display, why: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.to_string(),
        value: value.to_string(),
        why: why.into(),
    }
}

/// The access log's line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// Apache's combined log format.
    Combined,
    /// One JSON object per line.
    Json,
}

/// Every setting, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Print the effective configuration and exit.
    pub check_config: bool,
    /// The config file read, if any (for reloads and --check-config).
    pub config_file: Option<PathBuf>,
    /// Trusted proxy handling.
    pub proxy: ProxyConfig,
    /// Where access log lines go ("-" = standard output), if anywhere.
    pub access_log: Option<String>,
    pub access_log_format: AccessLogFormat,
    /// One-line warnings to log once logging is set up (deprecated settings...).
    pub warnings: Vec<String>,
    pub app: AppSpec,
    pub app_opts: Vec<(String, String)>,
    /// The Python interpreter (or virtualenv) a binary without one of its own hands
    /// a Python app to (`--python`, else `$VIRTUAL_ENV`).
    pub python: Option<PathBuf>,
    /// TCP addresses to bind, in order.
    pub listen: Vec<SocketAddr>,
    /// A unix socket to bind, with its file mode.
    pub unix_socket: Option<PathBuf>,
    pub unix_socket_perms: u32,
    pub workers: usize,
    pub graceful_timeout_secs: u64,
    /// 0 = no heartbeat check.
    pub timeout_secs: u64,
    pub boot_timeout_secs: u64,
    pub max_requests: u64,
    pub max_requests_jitter: u64,
    /// New workers booting at a time during a reload; 0 = all at once.
    pub reload_surge: u64,
    pub pid_file: Option<PathBuf>,
    pub backlog: i32,
    pub threads: usize,
    /// Which CPU each worker slot is bound to, if any.
    pub cpu_affinity: CpuAffinity,
    pub recv_bytes: usize,
    pub inbuf_overflow: u64,
    pub outbuf_overflow: u64,
    pub outbuf_high_watermark: u64,
    pub connection_limit: usize,
    pub cleanup_interval_secs: u64,
    pub channel_timeout_secs: u64,
    /// 0 = no limit.
    pub request_head_timeout_secs: u64,
    pub max_request_header_size: usize,
    pub max_request_body_size: u64,
    pub channel_request_lookahead: usize,
    pub url_scheme: String,
    pub url_prefix: String,
    pub ident: String,
    pub server_name: String,
    pub expose_tracebacks: bool,
    pub log_socket_errors: bool,
    pub log_level: log::LevelFilter,
}

/// Why the command line could not become a Config: one line for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// --help or --version: print this text and exit 0.
    Info(String),
    /// A bad flag or value: print this line and exit 2.
    Invalid(String),
}

/// Where a master's configuration comes from, so a reload (HUP) can read it again.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A command line (argv[0] first), with the environment and any `--config` file.
    Args(Vec<std::ffi::OsString>),
    /// `waitressd.serve(app, **keywords)`: the keywords as strings, and the app object
    /// the embedding process holds.
    Keywords {
        settings: Vec<(String, String)>,
        app: AppSpec,
    },
}

impl ConfigSource {
    pub fn read(&self) -> Result<Config, ArgsError> {
        match self {
            ConfigSource::Args(args) => Config::from_args(args),
            ConfigSource::Keywords { settings, app } => {
                Config::from_keywords(settings, app.clone()).map_err(ArgsError::Invalid)
            }
        }
    }
}

impl Config {
    /// `waitressd.serve(app, **kw)`: the keywords (Waitress's names, values already
    /// strings as in a config file) over the defaults; the environment is not read.
    /// An error names the keyword and its value.
    pub fn from_keywords(settings: &[(String, String)], app: AppSpec) -> Result<Config, String> {
        use clap::FromArgMatches;
        let matches = cli::command()
            .try_get_matches_from(["waitressd"])
            .map_err(|e| e.to_string())?;
        let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
        for (key, value) in settings {
            if !settings::setting(key).is_some_and(settings::Setting::is_keyword) {
                return Err(format!("Unknown adjustment '{key}'"));
            }
            layers::set(&mut cli, key, value)
                .map_err(|why| format!("invalid value '{value}' for '{key}': {why}"))?;
        }
        Config::from_cli_with_app(cli, Some(app)).map_err(|e| {
            let key = e.setting.replace('-', "_");
            let given = settings
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(e.value.clone(), |(_, v)| v.clone());
            format!("invalid value '{given}' for '{key}': {}", e.why)
        })
    }

    /// Parse and validate a whole command line (argv[0] first). Used at startup and
    /// again on every SIGHUP.
    pub fn from_args(args: &[std::ffi::OsString]) -> Result<Config, ArgsError> {
        use clap::FromArgMatches;
        let clap_error = |e: clap::Error| match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                ArgsError::Info(e.to_string())
            }
            _ => {
                // clap's first line names the flag and the value; the usage and
                // "For more information" lines are noise in a service log.
                let text = e.to_string();
                let line = text.lines().next().unwrap_or("error: invalid arguments");
                ArgsError::Invalid(line.trim_start_matches("error: ").to_string())
            }
        };
        let matches = cli::command()
            .try_get_matches_from(args)
            .map_err(clap_error)?;
        let mut cli = Cli::from_arg_matches(&matches).map_err(clap_error)?;
        let sources = layers::apply(&mut cli, &matches).map_err(ArgsError::Invalid)?;
        Config::from_cli(cli)
            .map_err(|e| ArgsError::Invalid(sources.describe(&e.setting, &e.value, &e.why)))
    }

    /// Validate a parsed command line.
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        Config::from_cli_with_app(cli, None)
    }

    /// As `from_cli`, with the app given by the embedding process (`serve(app)`)
    /// instead of APP.
    fn from_cli_with_app(cli: Cli, preset: Option<AppSpec>) -> Result<Config, ConfigError> {
        let listen = listen_addrs(&cli)?;
        let workers = cli.workers.unwrap_or(1);
        if !(1..=1024).contains(&workers) {
            return Err(bad("workers", workers, "must be from 1 to 1024"));
        }
        at_least("boot-timeout", cli.boot_timeout, 1)?;
        let unix_socket_perms = u32::from_str_radix(&cli.unix_socket_perms, 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                bad(
                    "unix-socket-perms",
                    &cli.unix_socket_perms,
                    "must be an octal mode like 600",
                )
            })?;
        at_least("threads", cli.threads as u64, 1)?;
        at_least("connection-limit", cli.connection_limit as u64, 1)?;
        at_least("recv-bytes", cli.recv_bytes as u64, 1)?;
        at_least("cleanup-interval", cli.cleanup_interval, 1)?;
        at_least("channel-timeout", cli.channel_timeout, 1)?;
        at_least(
            "max-request-header-size",
            cli.max_request_header_size as u64,
            1,
        )?;
        at_least("outbuf-high-watermark", cli.outbuf_high_watermark, 1)?;
        if cli.backlog < 1 {
            return Err(bad("backlog", cli.backlog, "must be at least 1"));
        }
        if cli.threads > 1024 {
            return Err(bad("threads", cli.threads, "must be at most 1024"));
        }
        let cpu_affinity = CpuAffinity::parse(&cli.cpu_affinity)?;
        let mut warnings = Vec::new();
        let app = preset.or_else(|| {
            cli.app
                .as_deref()
                .map(|a| AppSpec::from_arg(a.as_os_str(), cli.call))
        });
        for (given, setting) in [
            (cli.send_bytes.is_some(), "send_bytes"),
            (
                cli.call && !app.as_ref().is_some_and(AppSpec::is_python),
                "call",
            ),
            (cli.asyncore_use_poll, "asyncore_use_poll"),
            (cli.asyncore_loop_timeout.is_some(), "asyncore_loop_timeout"),
        ] {
            if given {
                warnings.push(format!(
                    "'{setting}' is a waitress-serve setting with no meaning for waitressd; ignored"
                ));
            }
        }
        let app = app.ok_or_else(|| {
            bad(
                "app",
                "",
                "no app given: pass APP or set 'app' in the config file",
            )
        })?;
        let proxy = proxy::from_cli(&cli, &mut warnings)?;
        let access_log_format = match cli.access_log_format.to_ascii_lowercase().as_str() {
            "combined" => AccessLogFormat::Combined,
            "json" => AccessLogFormat::Json,
            _ => {
                return Err(bad(
                    "access-log-format",
                    &cli.access_log_format,
                    "must be combined or json",
                ))
            }
        };
        if cli.access_log.as_deref() == Some("") {
            return Err(bad("access-log", "", "must be a path or -"));
        }
        let url_scheme = cli.url_scheme.to_ascii_lowercase();
        if url_scheme != "http" && url_scheme != "https" {
            return Err(bad("url-scheme", &cli.url_scheme, "must be http or https"));
        }
        let url_prefix = normalize_url_prefix(&cli.url_prefix)?;
        if !is_printable_ascii(&cli.ident) {
            return Err(bad("ident", &cli.ident, "must be printable ASCII"));
        }
        if cli.server_name.is_empty() || !is_printable_ascii(&cli.server_name) {
            return Err(bad(
                "server-name",
                &cli.server_name,
                "must be a non-empty printable ASCII name",
            ));
        }
        let log_level = cli.log_level.parse::<log::LevelFilter>().map_err(|_| {
            bad(
                "log-level",
                &cli.log_level,
                "must be one of off, error, warn, info, debug, trace",
            )
        })?;
        let app_opts = cli
            .app_opt
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => Err(bad("app-opt", kv, "must be KEY=VALUE")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            check_config: cli.check_config,
            config_file: cli.config.clone(),
            proxy,
            access_log: cli.access_log.clone(),
            access_log_format,
            warnings,
            app,
            app_opts,
            python: cli.python.clone(),
            listen,
            unix_socket: cli.unix_socket,
            unix_socket_perms,
            workers: workers as usize,
            graceful_timeout_secs: cli.graceful_timeout,
            timeout_secs: cli.timeout,
            boot_timeout_secs: cli.boot_timeout,
            max_requests: cli.max_requests,
            max_requests_jitter: cli.max_requests_jitter,
            reload_surge: cli.reload_surge,
            pid_file: cli.pid_file,
            backlog: cli.backlog,
            threads: cli.threads,
            cpu_affinity,
            recv_bytes: cli.recv_bytes,
            inbuf_overflow: cli.inbuf_overflow,
            outbuf_overflow: cli.outbuf_overflow,
            outbuf_high_watermark: cli.outbuf_high_watermark,
            connection_limit: cli.connection_limit,
            cleanup_interval_secs: cli.cleanup_interval,
            channel_timeout_secs: cli.channel_timeout,
            request_head_timeout_secs: cli.request_head_timeout,
            max_request_header_size: cli.max_request_header_size,
            max_request_body_size: cli.max_request_body_size,
            channel_request_lookahead: cli.channel_request_lookahead,
            url_scheme,
            url_prefix,
            ident: cli.ident,
            server_name: cli.server_name,
            expose_tracebacks: cli.expose_tracebacks && !cli.no_expose_tracebacks,
            log_socket_errors: !cli.no_log_socket_errors,
            log_level,
        })
    }
}

impl Config {
    /// The effective configuration as JSON (`--check-config`), keyed by setting name.
    pub fn to_json(&self) -> serde_json::Value {
        let call = matches!(&self.app, AppSpec::Python(p) if p.call);
        let python = self.python.as_ref().map(|p| p.display().to_string());
        let mut json = serde_json::json!({
            "app": self.app.describe(),
            "app_opt": self.app_opts.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "config": self.config_file.as_ref().map(|p| p.display().to_string()),
            "listen": self.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "unix_socket": self.unix_socket.as_ref().map(|p| p.display().to_string()),
            "unix_socket_perms": format!("{:o}", self.unix_socket_perms),
            "backlog": self.backlog,
            "workers": self.workers,
            "threads": self.threads,
            "graceful_timeout": self.graceful_timeout_secs,
            "timeout": self.timeout_secs,
            "boot_timeout": self.boot_timeout_secs,
            "max_requests": self.max_requests,
            "max_requests_jitter": self.max_requests_jitter,
            "reload_surge": self.reload_surge,
            "pid_file": self.pid_file.as_ref().map(|p| p.display().to_string()),
            "recv_bytes": self.recv_bytes,
            "inbuf_overflow": self.inbuf_overflow,
            "outbuf_overflow": self.outbuf_overflow,
            "outbuf_high_watermark": self.outbuf_high_watermark,
            "connection_limit": self.connection_limit,
            "cleanup_interval": self.cleanup_interval_secs,
            "channel_timeout": self.channel_timeout_secs,
            "request_head_timeout": self.request_head_timeout_secs,
            "max_request_header_size": self.max_request_header_size,
            "max_request_body_size": self.max_request_body_size,
            "channel_request_lookahead": self.channel_request_lookahead,
            "url_scheme": self.url_scheme,
            "url_prefix": self.url_prefix,
            "ident": self.ident,
            "server_name": self.server_name,
            "expose_tracebacks": self.expose_tracebacks,
            "log_socket_errors": self.log_socket_errors,
            "log_level": self.log_level.to_string().to_ascii_lowercase(),
            "trusted_proxy": self.proxy.trusted_proxy,
            "trusted_proxy_count": self.proxy.trusted_proxy_count,
            "trusted_proxy_headers": self.proxy.trusted_proxy_headers.iter().collect::<Vec<_>>(),
            "log_untrusted_proxy_headers": self.proxy.log_untrusted,
            "clear_untrusted_proxy_headers": self.proxy.clear_untrusted,
            "access_log": self.access_log,
            "access_log_format": match self.access_log_format {
                AccessLogFormat::Combined => "combined",
                AccessLogFormat::Json => "json",
            },
        });
        json["call"] = call.into();
        json["cpu_affinity"] = self.cpu_affinity.describe().into();
        json["python"] = python.into();
        json
    }
}

fn at_least(setting: &str, value: u64, min: u64) -> Result<(), ConfigError> {
    if value < min {
        return Err(bad(setting, value, format!("must be at least {min}")));
    }
    Ok(())
}

fn is_printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Waitress `slash_fixed_str`: "" stays "", otherwise exactly one leading slash and
/// no trailing slash ("/foo/" → "/foo").
fn normalize_url_prefix(prefix: &str) -> Result<String, ConfigError> {
    if !is_printable_ascii(prefix) || prefix.contains(['?', '#', ' ']) {
        return Err(bad("url-prefix", prefix, "must be a URL path"));
    }
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    Ok(format!("/{trimmed}"))
}

/// `--listen` wins; otherwise `--host`/`--port` (default 0.0.0.0:8080), as in
/// Waitress; with only `--unix-socket`, no TCP at all. `--no-ipv4`/`--no-ipv6` drop
/// addresses of that family.
fn listen_addrs(cli: &Cli) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut addrs = Vec::new();
    if cli.listen.is_empty() {
        if cli.unix_socket.is_some() && cli.host.is_none() && cli.port.is_none() {
            return Ok(addrs);
        }
        let host = cli.host.as_deref().unwrap_or("0.0.0.0");
        let port = cli.port.unwrap_or(8080);
        addrs = listen::resolve_host_port(host, port).map_err(|why| bad("host", host, why))?;
    } else {
        if cli.host.is_some() || cli.port.is_some() {
            let which = if cli.host.is_some() { "host" } else { "port" };
            let value = cli
                .host
                .clone()
                .unwrap_or_else(|| cli.port.map(|p| p.to_string()).unwrap_or_default());
            return Err(bad(which, value, "cannot be combined with --listen"));
        }
        for spec in &cli.listen {
            for addr in listen::resolve(spec).map_err(|why| bad("listen", spec, why))? {
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
        }
    }
    let (v4, v6) = (!cli.no_ipv4, !cli.no_ipv6);
    if !v4 && !v6 {
        return Err(bad(
            "no-ipv6",
            "",
            "--no-ipv4 and --no-ipv6 together leave nothing to listen on",
        ));
    }
    addrs.retain(|a| (a.is_ipv4() && v4) || (a.is_ipv6() && v6));
    if addrs.is_empty() && cli.unix_socket.is_none() {
        let why = "no address left after --no-ipv4/--no-ipv6";
        if cli.listen.is_empty() {
            return Err(bad("host", cli.host.as_deref().unwrap_or("0.0.0.0"), why));
        }
        return Err(bad("listen", cli.listen.join(" "), why));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut v = vec!["waitressd"];
        v.extend_from_slice(args);
        v.push("app.so");
        Config::from_cli(Cli::try_parse_from(v).unwrap())
    }

    #[test]
    fn defaults_are_waitress_defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, vec!["0.0.0.0:8080".parse().unwrap()]);
        assert_eq!(c.threads, 4);
        assert_eq!(c.connection_limit, 100);
        assert_eq!(c.channel_timeout_secs, 120);
        assert_eq!(c.ident, "waitress");
        assert!(c.log_socket_errors);
        assert!(!c.expose_tracebacks);
    }

    #[test]
    fn errors_name_the_setting_and_value() {
        let e = parse(&["--threads", "0"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value '0' for '--threads': must be at least 1"
        );
        let e = parse(&["--url-scheme", "ftp"]).unwrap_err();
        assert_eq!(e.setting, "url-scheme");
        let e = parse(&["--app-opt", "novalue"]).unwrap_err();
        assert_eq!(e.setting, "app-opt");
        let e = parse(&["--listen", "127.0.0.1:x"]).unwrap_err();
        assert_eq!(e.setting, "listen");
    }

    #[test]
    fn url_prefix_is_normalized() {
        assert_eq!(
            parse(&["--url-prefix", "/foo/"]).unwrap().url_prefix,
            "/foo"
        );
        assert_eq!(parse(&["--url-prefix", "foo"]).unwrap().url_prefix, "/foo");
        assert_eq!(parse(&["--url-prefix", "/"]).unwrap().url_prefix, "");
    }

    #[test]
    fn flags_toggle() {
        assert!(parse(&["--expose-tracebacks"]).unwrap().expose_tracebacks);
        assert!(
            !parse(&["--no-log-socket-errors"])
                .unwrap()
                .log_socket_errors
        );
    }
}
