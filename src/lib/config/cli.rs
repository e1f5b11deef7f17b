//! The command line, spelled exactly as `waitress-serve` spells it.
//!
//! This is the raw, unvalidated form (ripgrep's "low-level args"): clap parses types,
//! `Config::from_cli` checks ranges and relations. No I/O happens here. Help texts and
//! `--help` groups come from `settings::SETTINGS` (`settings::command`); the fields
//! here carry only types, placeholders and defaults, which a test checks against it.
use clap::{ArgAction, CommandFactory, Parser};
use std::path::PathBuf;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "waitressd",
    version,
    about = "An HTTP/1.x application server for Python WSGI apps and native apps (app.so), with Waitress's settings",
    after_help = "Every setting keeps its waitress-serve name and default. See README.md."
)]
pub struct Cli {
    #[arg(value_name = "APP")]
    pub app: Option<PathBuf>,

    // ----- Configuration -----
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "NAME", default_value = "server:main")]
    pub config_section: String,
    #[arg(long)]
    pub check_config: bool,

    // ----- Listening -----
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    #[arg(long, value_name = "HOST:PORT", action = ArgAction::Append)]
    pub listen: Vec<String>,
    #[arg(long, overrides_with = "no_ipv4")]
    pub ipv4: bool,
    #[arg(long)]
    pub no_ipv4: bool,
    #[arg(long, overrides_with = "no_ipv6")]
    pub ipv6: bool,
    #[arg(long)]
    pub no_ipv6: bool,
    #[arg(long, value_name = "PATH")]
    pub unix_socket: Option<std::path::PathBuf>,
    #[arg(long, value_name = "OCTAL", default_value = "600")]
    pub unix_socket_perms: String,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 1024
    )]
    pub backlog: i32,

    // ----- Workers -----
    #[arg(long, value_name = "INT", allow_negative_numbers = true)]
    pub workers: Option<i64>,
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 30
    )]
    pub graceful_timeout: u64,
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 30
    )]
    pub timeout: u64,
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 60
    )]
    pub boot_timeout: u64,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 0
    )]
    pub max_requests: u64,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 0
    )]
    pub max_requests_jitter: u64,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 0
    )]
    pub reload_surge: u64,
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<std::path::PathBuf>,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 4
    )]
    pub threads: usize,
    #[arg(long, value_name = "MODE", default_value = "off")]
    pub cpu_affinity: String,

    // ----- HTTP limits and buffers -----
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 8192
    )]
    pub recv_bytes: usize,
    #[arg(long, value_name = "INT", allow_negative_numbers = true)]
    pub send_bytes: Option<String>,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 524_288
    )]
    pub inbuf_overflow: u64,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 1_048_576
    )]
    pub outbuf_overflow: u64,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 16_777_216
    )]
    pub outbuf_high_watermark: u64,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 100
    )]
    pub connection_limit: usize,
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 30
    )]
    pub cleanup_interval: u64,
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 120
    )]
    pub channel_timeout: u64,
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = 60
    )]
    pub request_head_timeout: u64,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 262_144
    )]
    pub max_request_header_size: usize,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 1_073_741_824
    )]
    pub max_request_body_size: u64,
    #[arg(
        long,
        value_name = "INT",
        allow_negative_numbers = true,
        default_value_t = 0
    )]
    pub channel_request_lookahead: usize,

    // ----- Request environment -----
    #[arg(long, value_name = "SCHEME", default_value = "http")]
    pub url_scheme: String,
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub url_prefix: String,
    #[arg(long, value_name = "STR", default_value = "waitress")]
    pub ident: String,
    #[arg(long, value_name = "NAME", default_value = "waitress.invalid")]
    pub server_name: String,
    #[arg(long, overrides_with = "no_expose_tracebacks")]
    pub expose_tracebacks: bool,
    #[arg(long)]
    pub no_expose_tracebacks: bool,

    // ----- Proxy -----
    #[arg(long, value_name = "ADDR")]
    pub trusted_proxy: Option<String>,
    #[arg(long, value_name = "INT", allow_negative_numbers = true)]
    pub trusted_proxy_count: Option<i64>,
    #[arg(long, value_name = "HEADERS", action = ArgAction::Append)]
    pub trusted_proxy_headers: Vec<String>,
    #[arg(long, overrides_with = "no_log_untrusted_proxy_headers")]
    pub log_untrusted_proxy_headers: bool,
    #[arg(long)]
    pub no_log_untrusted_proxy_headers: bool,
    #[arg(long, overrides_with = "no_clear_untrusted_proxy_headers")]
    pub clear_untrusted_proxy_headers: bool,
    #[arg(long)]
    pub no_clear_untrusted_proxy_headers: bool,

    // ----- Logging -----
    #[arg(long, value_name = "PATH")]
    pub access_log: Option<String>,
    #[arg(long, value_name = "FORMAT", default_value = "combined")]
    pub access_log_format: String,
    #[arg(long, overrides_with = "no_log_socket_errors")]
    pub log_socket_errors: bool,
    #[arg(long)]
    pub no_log_socket_errors: bool,
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    // ----- Accepted for waitress-serve compatibility (no effect) -----
    #[arg(long, overrides_with = "no_asyncore_use_poll")]
    pub asyncore_use_poll: bool,
    #[arg(long)]
    pub no_asyncore_use_poll: bool,
    #[arg(long, value_name = "SECS")]
    pub asyncore_loop_timeout: Option<String>,

    // ----- App -----
    #[arg(long)]
    pub call: bool,
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    #[arg(long, value_name = "KEY=VALUE", action = ArgAction::Append)]
    pub app_opt: Vec<String>,
}

/// The command line as `--help` shows it: clap's parser for `Cli`, with each
/// argument's help and heading from the settings table.
pub fn command() -> clap::Command {
    Cli::command().mut_args(
        |arg| match super::settings::help_for(arg.get_id().as_str()) {
            Some(line) => {
                let arg = arg.help(line.help).help_heading(line.group);
                match line.value {
                    Some(value) => arg.value_name(value),
                    None => arg,
                }
            }
            None => arg,
        },
    )
}
