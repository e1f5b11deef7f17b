//! The trusted-proxy settings (`--trusted-proxy`, `--trusted-proxy-count`,
//! `--trusted-proxy-headers`, `--clear-untrusted-proxy-headers`,
//! `--log-untrusted-proxy-headers`) and the proxy header names Waitress knows,
//! validated with Waitress's `Adjustments` rules. `http::proxy` applies them to
//! requests; this file only builds them from the command line.
use super::{bad, Cli, ConfigError};
use std::collections::BTreeSet;

/// The proxy headers Waitress knows, by their lower-case field names.
pub const PROXY_HEADERS: [&str; 6] = [
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-by",
    "forwarded",
];

/// The validated proxy settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyConfig {
    /// An address, "localhost" (unix sockets), or "*".
    pub trusted_proxy: Option<String>,
    pub trusted_proxy_count: usize,
    /// Lower-case names from PROXY_HEADERS.
    pub trusted_proxy_headers: BTreeSet<String>,
    pub clear_untrusted: bool,
    pub log_untrusted: bool,
}

/// Waitress `Adjustments` rules for the proxy settings.
pub(super) fn from_cli(cli: &Cli, warnings: &mut Vec<String>) -> Result<ProxyConfig, ConfigError> {
    let trusted_proxy = cli.trusted_proxy.clone().filter(|p| !p.is_empty());
    let headers: BTreeSet<String> = cli
        .trusted_proxy_headers
        .iter()
        .flat_map(|v| v.split(|c: char| c.is_whitespace() || c == ','))
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    if trusted_proxy.is_none() {
        if let Some(count) = cli.trusted_proxy_count {
            return Err(bad(
                "trusted-proxy-count",
                count,
                "has no meaning without setting --trusted-proxy",
            ));
        }
        if !headers.is_empty() {
            return Err(bad(
                "trusted-proxy-headers",
                cli.trusted_proxy_headers.join(" "),
                "has no meaning without setting --trusted-proxy",
            ));
        }
    }
    if let Some(unknown) = headers
        .iter()
        .find(|h| !PROXY_HEADERS.contains(&h.as_str()))
    {
        return Err(bad(
            "trusted-proxy-headers",
            unknown,
            format!(
                "unknown header; expected one of {}",
                PROXY_HEADERS.join(", ")
            ),
        ));
    }
    if headers.contains("forwarded") && headers.len() > 1 {
        return Err(bad(
            "trusted-proxy-headers",
            cli.trusted_proxy_headers.join(" "),
            "Forwarded and the X-Forwarded-{By,Host,Proto,Port,For} headers are mutually exclusive",
        ));
    }
    let count = cli.trusted_proxy_count.unwrap_or(1);
    if count < 1 {
        return Err(bad("trusted-proxy-count", count, "must be at least 1"));
    }
    let headers = if headers.is_empty() && trusted_proxy.is_some() {
        warnings.push(
            "no proxy headers were marked as trusted, but trusted_proxy was set: trusting X-Forwarded-Proto (as Waitress does)".into(),
        );
        ["x-forwarded-proto".to_string()].into_iter().collect()
    } else {
        headers
    };
    Ok(ProxyConfig {
        trusted_proxy,
        trusted_proxy_count: count as usize,
        trusted_proxy_headers: headers,
        clear_untrusted: !cli.no_clear_untrusted_proxy_headers,
        log_untrusted: cli.log_untrusted_proxy_headers && !cli.no_log_untrusted_proxy_headers,
    })
}
