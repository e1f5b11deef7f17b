//! The settings table (`src/lib/config/settings.rs`) is the one list of settings:
//! the command line, the config-file and environment keys, `--check-config`, the
//! Python keywords and the README must all agree with it.
use crate::util::BIN;
use std::process::Command;
use waitressd::config::settings::{Kind, SETTINGS};

const README: &str = include_str!("../../README.md");
const BEGIN: &str = "<!-- options: generated from src/lib/config/settings.rs (tests/it/settings.rs checks it) -->\n";
const END: &str = "<!-- end of options -->";

#[test]
fn the_readme_options_table_is_the_settings_table() {
    let start = README
        .find(BEGIN)
        .expect("the README marks its options table")
        + BEGIN.len();
    let end = README[start..].find(END).expect("…and its end") + start;
    let expected = waitressd::config::settings::options_markdown();
    assert!(
        README[start..end] == expected,
        "the README's options table is out of date; it should read:\n{expected}"
    );
}

#[test]
fn every_setting_has_its_flag_group_and_default_in_clap() {
    let cmd = waitressd::config::cli::command();
    for s in SETTINGS {
        for id in s.clap_ids() {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id().as_str() == id)
                .unwrap_or_else(|| panic!("clap has no argument {id}"));
            if s.key != "app" {
                assert_eq!(arg.get_long(), Some(id.replace('_', "-").as_str()), "{id}");
            }
            assert_eq!(arg.get_help_heading(), Some(s.group), "{id}");
        }
        // A documented default that is a plain value is clap's default.
        let documented = s.default.trim_matches('`');
        let plain = !documented.is_empty()
            && !documented.contains(' ')
            && !documented.starts_with('$')
            && !documented.starts_with('(')
            && s.kind != Kind::Bool
            && documented != "off";
        if plain {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id().as_str() == s.key)
                .unwrap();
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let want = if documented == "\"\"" { "" } else { documented };
            // Defaults clap cannot hold (they depend on other settings) are applied
            // in Config::from_cli; the rest must match.
            if !defaults.is_empty() {
                assert_eq!(defaults, vec![want.to_string()], "default of {}", s.key);
            }
        }
    }
    // And nothing in clap that the table does not know.
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if ["help", "version"].contains(&id) {
            continue;
        }
        assert!(
            waitressd::config::settings::help_for(id).is_some(),
            "--{id} is not in the settings table"
        );
    }
}

#[test]
fn check_config_reports_exactly_the_settings() {
    let out = Command::new(BIN)
        .args(["--check-config", "/nonexistent/app.so"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut reported: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    reported.sort_unstable();
    let mut settings: Vec<&str> = SETTINGS
        .iter()
        .filter(|s| s.is_reported())
        .map(|s| s.key)
        .collect();
    settings.sort_unstable();
    assert_eq!(reported, settings);
}

#[test]
fn every_file_setting_is_in_the_readme_migration_table() {
    let table = &README[README.find("## Migrating from Waitress").unwrap()..];
    for s in SETTINGS.iter().filter(|s| s.in_files()) {
        assert!(
            table.contains(&format!("`{}`", s.key)),
            "{} is not in the migration table",
            s.key
        );
    }
}

#[test]
fn every_file_setting_is_read_from_a_config_file() {
    // A file setting that the reader does not handle would be an "unknown setting".
    for s in SETTINGS.iter().filter(|s| s.in_files()) {
        let value = match s.kind {
            Kind::Bool => "true",
            Kind::Int => "1",
            Kind::Octal => "600",
            Kind::KeyValues => "a=1",
            Kind::List if s.key == "listen" => "127.0.0.1:1",
            Kind::List => "x-forwarded-proto",
            _ if s.key == "log_level" => "info",
            _ if s.key == "access_log_format" => "json",
            _ if s.key == "url_scheme" => "https",
            _ => "x",
        };
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("app.ini");
        let extra = if s.key == "trusted_proxy_count" || s.key == "trusted_proxy_headers" {
            "trusted_proxy = 127.0.0.1\n"
        } else {
            ""
        };
        let app = if s.key == "app" {
            ""
        } else {
            "app = /nonexistent/app.so\n"
        };
        std::fs::write(
            &ini,
            format!("[server:main]\n{app}{extra}{} = {value}\n", s.key),
        )
        .unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&ini)
            .arg("--check-config")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("unknown"), "{}: {err}", s.key);
    }
}
