//! Where each setting comes from: command line > environment > config file >
//! defaults. Settings the command line did not give are filled from
//! `WAITRESSD_<KEY>` (and `WEB_CONCURRENCY` for workers), then from the config file's
//! section, by their Waitress names. Every error names its source: the flag, the
//! variable, or the file and line, with the key and the value.
use super::cli::Cli;
use super::ini;
use clap::parser::ValueSource;
use clap::ArgMatches;
use std::collections::HashMap;
use std::path::PathBuf;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    CommandLine,
    Env(String),
    File { path: PathBuf, line: usize },
}

/// The settings a file or the environment may set (the settings table's).
fn file_settings() -> impl Iterator<Item = &'static super::settings::Setting> {
    super::settings::SETTINGS.iter().filter(|s| s.in_files())
}

/// Keys a file may carry that mean nothing to us (PasteDeploy's entry point).
const IGNORED_KEYS: &[&str] = &["use"];

/// The source of every setting that did not come from the defaults.
#[derive(Debug, Default)]
pub struct Sources {
    by_key: HashMap<String, (Source, String)>,
}

impl Sources {
    /// Reword a validation error about `setting` (a flag name) for its source.
    pub fn describe(&self, setting: &str, value: &str, why: &str) -> String {
        let key = setting.replace('-', "_");
        match self.by_key.get(&key) {
            Some((Source::Env(var), raw)) => {
                format!("invalid value '{raw}' for {var} (setting '{key}'): {why}")
            }
            Some((Source::File { path, line }, raw)) => format!(
                "{}:{line}: invalid value '{raw}' for key '{key}': {why}",
                path.display()
            ),
            _ => format!("invalid value '{value}' for '--{setting}': {why}"),
        }
    }
}

fn given_on_command_line(matches: &ArgMatches, ids: &[String]) -> bool {
    ids.iter()
        .any(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
}

fn env_names(key: &str) -> Vec<String> {
    let mut names = vec![format!("WAITRESSD_{}", key.to_ascii_uppercase())];
    if key == "workers" {
        names.push("WEB_CONCURRENCY".into());
    }
    names
}

/// Fill what the command line left unset from the environment, then the file.
pub fn apply(cli: &mut Cli, matches: &ArgMatches) -> Result<Sources, String> {
    let mut sources = Sources::default();
    let file_entries = match &cli.config {
        Some(path) => {
            let entries = ini::read_section(path, &cli.config_section)?;
            for e in &entries {
                let known = file_settings().any(|s| s.key == e.key)
                    || IGNORED_KEYS.contains(&e.key.as_str());
                if !known {
                    return Err(format!(
                        "{}:{}: unknown key '{}' (value '{}')",
                        path.display(),
                        e.line,
                        e.key,
                        e.value
                    ));
                }
            }
            Some((path.clone(), entries))
        }
        None => None,
    };
    for setting in file_settings() {
        let key = setting.key;
        let ids = setting.clap_ids();
        if given_on_command_line(matches, &ids) {
            sources
                .by_key
                .insert(key.to_string(), (Source::CommandLine, String::new()));
            continue;
        }
        let from_env = env_names(key)
            .into_iter()
            .find_map(|var| std::env::var(&var).ok().map(|v| (var, v)));
        if let Some((var, value)) = from_env {
            set(cli, key, &value).map_err(|why| {
                format!("invalid value '{value}' for {var} (setting '{key}'): {why}")
            })?;
            sources
                .by_key
                .insert(key.to_string(), (Source::Env(var), value));
            continue;
        }
        if let Some((path, entries)) = &file_entries {
            if let Some(e) = entries.iter().find(|e| e.key == *key) {
                set(cli, key, &e.value).map_err(|why| {
                    format!(
                        "{}:{}: invalid value '{}' for key '{key}': {why}",
                        path.display(),
                        e.line,
                        e.value
                    )
                })?;
                let source = Source::File {
                    path: path.clone(),
                    line: e.line,
                };
                sources
                    .by_key
                    .insert(key.to_string(), (source, e.value.clone()));
            }
        }
    }
    Ok(sources)
}

/// Waitress `asbool`, strictly: anything that is not clearly true or false is an
/// error (Waitress would silently read it as false).
fn boolean(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Ok(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Ok(false),
        _ => Err("must be true or false (or yes/no, on/off, 1/0)".into()),
    }
}

fn number<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| "must be a whole number".to_string())
}

/// A list value: whitespace- or comma-separated (Waitress `aslist`).
fn list(v: &str) -> Vec<String> {
    v.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Set one key on the parsed command line from a string.
pub fn set(cli: &mut Cli, key: &str, v: &str) -> Result<(), String> {
    let text = || v.trim().to_string();
    match key {
        "app" => cli.app = Some(PathBuf::from(text())),
        "app_opt" => cli.app_opt = v.split_whitespace().map(str::to_string).collect(),
        "call" => cli.call = boolean(v)?,
        "python" => cli.python = Some(PathBuf::from(text())),
        "host" => cli.host = Some(text()),
        "port" => cli.port = Some(number(v)?),
        "listen" => cli.listen = list(v),
        "ipv4" => (cli.ipv4, cli.no_ipv4) = flag_pair(boolean(v)?),
        "ipv6" => (cli.ipv6, cli.no_ipv6) = flag_pair(boolean(v)?),
        "unix_socket" => cli.unix_socket = Some(PathBuf::from(text())),
        "unix_socket_perms" => cli.unix_socket_perms = text(),
        "backlog" => cli.backlog = number(v)?,
        "workers" => cli.workers = Some(number(v)?),
        "threads" => cli.threads = number(v)?,
        "cpu_affinity" => cli.cpu_affinity = text(),
        "graceful_timeout" => cli.graceful_timeout = number(v)?,
        "timeout" => cli.timeout = number(v)?,
        "boot_timeout" => cli.boot_timeout = number(v)?,
        "max_requests" => cli.max_requests = number(v)?,
        "max_requests_jitter" => cli.max_requests_jitter = number(v)?,
        "reload_surge" => cli.reload_surge = number(v)?,
        "pid_file" => cli.pid_file = Some(PathBuf::from(text())),
        "recv_bytes" => cli.recv_bytes = number(v)?,
        "send_bytes" => cli.send_bytes = Some(text()),
        "inbuf_overflow" => cli.inbuf_overflow = number(v)?,
        "outbuf_overflow" => cli.outbuf_overflow = number(v)?,
        "outbuf_high_watermark" => cli.outbuf_high_watermark = number(v)?,
        "connection_limit" => cli.connection_limit = number(v)?,
        "cleanup_interval" => cli.cleanup_interval = number(v)?,
        "channel_timeout" => cli.channel_timeout = number(v)?,
        "request_head_timeout" => cli.request_head_timeout = number(v)?,
        "max_request_header_size" => cli.max_request_header_size = number(v)?,
        "max_request_body_size" => cli.max_request_body_size = number(v)?,
        "channel_request_lookahead" => cli.channel_request_lookahead = number(v)?,
        "url_scheme" => cli.url_scheme = text(),
        "url_prefix" => cli.url_prefix = text(),
        "ident" => cli.ident = text(),
        "server_name" => cli.server_name = text(),
        "expose_tracebacks" => {
            (cli.expose_tracebacks, cli.no_expose_tracebacks) = flag_pair(boolean(v)?)
        }
        "log_socket_errors" => {
            (cli.log_socket_errors, cli.no_log_socket_errors) = flag_pair(boolean(v)?)
        }
        "log_level" => cli.log_level = text(),
        "trusted_proxy" => cli.trusted_proxy = Some(text()),
        "trusted_proxy_count" => cli.trusted_proxy_count = Some(number(v)?),
        "trusted_proxy_headers" => cli.trusted_proxy_headers = vec![text()],
        "log_untrusted_proxy_headers" => {
            (
                cli.log_untrusted_proxy_headers,
                cli.no_log_untrusted_proxy_headers,
            ) = flag_pair(boolean(v)?)
        }
        "clear_untrusted_proxy_headers" => {
            (
                cli.clear_untrusted_proxy_headers,
                cli.no_clear_untrusted_proxy_headers,
            ) = flag_pair(boolean(v)?)
        }
        "access_log" => cli.access_log = Some(text()),
        "access_log_format" => cli.access_log_format = text(),
        "asyncore_use_poll" => cli.asyncore_use_poll = boolean(v)?,
        "asyncore_loop_timeout" => cli.asyncore_loop_timeout = Some(text()),
        other => return Err(format!("unknown setting '{other}'")),
    }
    Ok(())
}

/// A boolean as the (flag, no_flag) pair clap would have set.
fn flag_pair(on: bool) -> (bool, bool) {
    (on, !on)
}
