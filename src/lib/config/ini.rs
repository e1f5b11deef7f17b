//! A strict reader for PasteDeploy-style INI files: the `[server:main]` section (or
//! another) as (key, value, line) triples. Pure apart from reading the file.
//!
//! What ConfigParser (and so PasteDeploy) files use is accepted: `key = value` or
//! `key: value`, `#`/`;` comment lines, indented continuation lines, keys in any
//! case, and `%(here)s` (the file's directory). What would silently do something
//! else is an error naming the line: a key twice in the section, another `%(...)s`
//! interpolation, a line that is neither.
use std::path::Path;

/// One setting from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Read `section` of the INI file at `path`.
pub fn read_section(path: &Path, section: &str) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let here = path
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_string_lossy().into_owned()))
        .unwrap_or_else(|| ".".into());
    parse_section(&text, section, &here)
        .map_err(|(line, why)| format!("{}:{line}: {why}", path.display()))
}

/// Parse `text`; errors carry their 1-based line number.
pub fn parse_section(text: &str, section: &str, here: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut current: Option<String> = None;
    let mut found = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        if indented && current.as_deref() == Some(section) {
            // A continuation of the previous value (ConfigParser's multi-line values).
            let Some(last) = entries.last_mut() else {
                return Err((line_no, "an indented line with no key before it".into()));
            };
            if !last.value.is_empty() {
                last.value.push('\n');
            }
            last.value
                .push_str(&interpolate(trimmed, here).map_err(|e| (line_no, e))?);
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err((
                    line_no,
                    format!("a section header must end with ']': {trimmed}"),
                ));
            };
            let name = name.trim().to_string();
            if name == section {
                found = true;
            }
            current = Some(name);
            continue;
        }
        let Some(cur) = current.as_deref() else {
            return Err((line_no, "a setting before any [section]".into()));
        };
        if cur != section {
            continue; // other sections ([app:main], [loggers]...) are not ours
        }
        let split = trimmed.find(['=', ':']);
        let Some(at) = split else {
            return Err((
                line_no,
                format!("expected 'key = value', found {trimmed:?}"),
            ));
        };
        let key = trimmed[..at].trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err((line_no, "empty key".into()));
        }
        let value = interpolate(trimmed[at + 1..].trim(), here).map_err(|e| (line_no, e))?;
        if let Some(prev) = entries.iter().find(|e| e.key == key) {
            return Err((
                line_no,
                format!(
                    "key '{key}' is set twice in [{section}] (first on line {})",
                    prev.line
                ),
            ));
        }
        entries.push(Entry {
            key,
            value,
            line: line_no,
        });
    }
    if !found {
        return Err((0, format!("no [{section}] section")));
    }
    Ok(entries)
}

/// `%(here)s` → the file's directory; `%%` → `%`; any other `%(...)s` is an error.
fn interpolate(value: &str, here: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("(here)s") {
            out.push_str(here);
            rest = tail;
        } else {
            return Err(format!(
                "unsupported interpolation in {value:?} (only %(here)s and %% are supported)"
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_section() {
        let text = "[app:main]\nuse = egg:myapp\n\n[server:main]\nuse = egg:waitress#main\nHost = 0.0.0.0\nport: 6543\n# comment\napp_opt = a=1\n  b=%(here)s/x\n[other]\nport = 1\n";
        let e = parse_section(text, "server:main", "/srv").unwrap();
        let kv: Vec<(&str, &str, usize)> = e
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(
            kv,
            vec![
                ("use", "egg:waitress#main", 5),
                ("host", "0.0.0.0", 6),
                ("port", "6543", 7),
                ("app_opt", "a=1\nb=/srv/x", 9),
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse_section("[server:main]\nport = 1\nport = 2\n", "server:main", ".")
                .unwrap_err()
                .0,
            3
        );
        assert_eq!(
            parse_section("[server:main]\njunk\n", "server:main", ".")
                .unwrap_err()
                .0,
            2
        );
        assert_eq!(
            parse_section("port = 1\n", "server:main", ".")
                .unwrap_err()
                .0,
            1
        );
        assert_eq!(
            parse_section("[server:main\n", "server:main", ".")
                .unwrap_err()
                .0,
            1
        );
        assert_eq!(
            parse_section("[server:main]\nx = %(foo)s\n", "server:main", ".")
                .unwrap_err()
                .0,
            2
        );
        assert!(parse_section("[app:main]\n", "server:main", ".")
            .unwrap_err()
            .1
            .contains("no [server:main]"));
    }
}
