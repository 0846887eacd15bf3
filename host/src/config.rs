//! Settings from flags and a JSON file, merged (flags win) and validated into a [`Config`].
//!
//! One struct, [`Settings`], is both the clap parser and the JSON schema, so a setting is
//! declared once: `--idle-timeout` on the command line is `"idle_timeout"` in the file.
//! Errors name the flag or field and the file.

use clap::{Parser, ValueEnum};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Deserialize, Debug, Default)]
#[command(
    name = "pop3host",
    version,
    about = "A POP3 server whose mailboxes come from plugins"
)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Plugin library: a path, or a NAME for libNAME.so next to the binary or in --plugin-dir.
    #[arg(long, value_name = "PATH|NAME")]
    pub plugin: Option<String>,

    /// Where to look for plugins given by NAME, after the binary's own directory.
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,

    /// Configuration for the plugin's init: JSON text, or @FILE to read it from a file.
    /// In the config file: any JSON value.
    #[arg(long, value_name = "JSON|@FILE")]
    #[serde(skip)]
    pub plugin_config: Option<String>,

    /// Address to serve POP3 on (repeatable) [default: 0.0.0.0:110 and [::]:110].
    #[arg(long, value_name = "ADDR:PORT")]
    #[serde(default)]
    pub listen: Vec<String>,

    /// Text of the greeting after "+OK" [default: "pop3host ready."].
    #[arg(long, value_name = "TEXT")]
    pub greeting: Option<String>,

    /// Host name in APOP timestamps [default: the system's host name].
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Seconds a client may stay silent before it is logged out (RFC 1939 asks for at least 600)
    /// [default: 600].
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,

    /// Seconds one backend call may take before the session gets -ERR [SYS/TEMP] [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub backend_timeout: Option<u64>,

    /// Backend calls running at once; more wait, then fail with [SYS/TEMP] [default: 64].
    #[arg(long, value_name = "N")]
    pub backend_concurrency: Option<usize>,

    /// Seconds sessions get to finish after SIGTERM/SIGINT before they are closed [default: 10].
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_grace: Option<u64>,

    /// Log filter: error, warn, info, debug, trace, or a tracing directive [default: RUST_LOG,
    /// else info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log line format [default: text].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,

    /// JSON file with any of these settings (same names with underscores); flags win.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Print the plugin's name, version and configuration help as JSON, and exit.
    #[arg(long)]
    #[serde(skip)]
    pub describe: bool,
}

#[derive(ValueEnum, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Validated settings with defaults applied.
#[derive(Debug)]
pub struct Config {
    pub plugin: String,
    pub plugin_dir: Option<PathBuf>,
    /// JSON text for the plugin's init; `null` when none was given.
    pub plugin_config: String,
    pub listen: Vec<SocketAddr>,
    /// Whether `listen` is the default (then an address family the machine lacks is skipped).
    pub listen_is_default: bool,
    pub greeting: String,
    pub hostname: String,
    pub idle_timeout: Duration,
    pub backend_timeout: Duration,
    pub backend_concurrency: usize,
    pub shutdown_grace: Duration,
    pub log_level: Option<String>,
    pub log_format: LogFormat,
    pub describe: bool,
}

/// The greeting, APOP timestamp included, must fit a 512-octet status line (RFC 2449 §4).
pub const MAX_GREETING: usize = 506;

impl Config {
    pub fn from_settings(cli: Settings) -> Result<Self, String> {
        let (file, file_plugin_config) = match &cli.config {
            Some(path) => read_file(path)?,
            None => (Settings::default(), None),
        };
        let plugin_config = match &cli.plugin_config {
            Some(arg) => Some(plugin_config_arg(arg)?),
            None => file_plugin_config,
        };
        let listen_settings = if cli.listen.is_empty() {
            file.listen
        } else {
            cli.listen
        };
        let listen_is_default = listen_settings.is_empty();
        let listen = if listen_is_default {
            vec![
                "0.0.0.0:110".parse().expect("valid"),
                "[::]:110".parse().expect("valid"),
            ]
        } else {
            listen_settings
                .iter()
                .map(|a| {
                    a.parse().map_err(|_| {
                        format!(
                            "--listen {a}: not an ADDR:PORT such as 127.0.0.1:1110 or [::1]:1110"
                        )
                    })
                })
                .collect::<Result<_, _>>()?
        };
        let greeting = cli
            .greeting
            .or(file.greeting)
            .unwrap_or_else(|| "pop3host ready.".into());
        if greeting.len() > MAX_GREETING || greeting.chars().any(char::is_control) {
            return Err(format!(
                "greeting: must be at most {MAX_GREETING} octets of text without control characters"
            ));
        }
        let backend_concurrency = cli
            .backend_concurrency
            .or(file.backend_concurrency)
            .unwrap_or(64);
        if backend_concurrency == 0 {
            return Err("backend_concurrency: must be at least 1".into());
        }
        let seconds = |name: &str, value: Option<u64>, default: u64| -> Result<Duration, String> {
            match value.unwrap_or(default) {
                0 => Err(format!("{name}: must be at least 1 second")),
                s => Ok(Duration::from_secs(s)),
            }
        };
        Ok(Self {
            plugin: cli.plugin.or(file.plugin).ok_or("--plugin is required: a path to a plugin library, or a NAME such as static_messages")?,
            plugin_dir: cli.plugin_dir.or(file.plugin_dir),
            plugin_config: plugin_config.map_or_else(|| "null".to_string(), |v| v.to_string()),
            listen,
            listen_is_default,
            greeting,
            hostname: cli.hostname.or(file.hostname).unwrap_or_else(system_hostname),
            idle_timeout: seconds("idle_timeout", cli.idle_timeout.or(file.idle_timeout), 600)?,
            backend_timeout: seconds("backend_timeout", cli.backend_timeout.or(file.backend_timeout), 30)?,
            backend_concurrency,
            shutdown_grace: seconds("shutdown_grace", cli.shutdown_grace.or(file.shutdown_grace), 10)?,
            log_level: cli.log_level.or(file.log_level),
            log_format: cli.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            describe: cli.describe,
        })
    }
}

/// Reads a JSON config file; `plugin_config` is taken out first because there it is any JSON
/// value, not text.
fn read_file(path: &Path) -> Result<(Settings, Option<serde_json::Value>), String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("--config {name}: {e}"))?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{name}: not valid JSON: {e}"))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| format!("{name}: must be a JSON object"))?;
    let plugin_config = object.remove("plugin_config");
    for skipped in ["config", "describe"] {
        if object.contains_key(skipped) {
            return Err(format!(
                "{name}: field `{skipped}` is only a command-line flag"
            ));
        }
    }
    let settings = serde_json::from_value(value).map_err(|e| format!("{name}: {e}"))?;
    Ok((settings, plugin_config))
}

/// `--plugin-config`: JSON text, or `@FILE`.
fn plugin_config_arg(arg: &str) -> Result<serde_json::Value, String> {
    let (text, source) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| format!("--plugin-config @{path}: {e}"))?,
            format!("--plugin-config @{path}"),
        ),
        None => (arg.to_string(), "--plugin-config".to_string()),
    };
    serde_json::from_str(&text).map_err(|e| format!("{source}: not valid JSON: {e}"))
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli =
            Settings::try_parse_from([&["pop3host"], args].concat()).map_err(|e| e.to_string())?;
        Config::from_settings(cli)
    }

    fn write_temp(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "pop3host-config-test-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults() {
        let config = parse(&["--plugin", "static_messages"]).unwrap();
        assert_eq!(config.listen.len(), 2);
        assert!(config.listen_is_default);
        assert_eq!(config.idle_timeout, Duration::from_secs(600));
        assert_eq!(config.plugin_config, "null");
        assert_eq!(config.greeting, "pop3host ready.");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = write_temp(
            "merge.json",
            r#"{"plugin": "maildir", "listen": ["127.0.0.1:1110"], "idle_timeout": 900, "plugin_config": {"a": 1}}"#,
        );
        let config = parse(&["--config", file.to_str().unwrap(), "--idle-timeout", "700"]).unwrap();
        assert_eq!(config.plugin, "maildir");
        assert_eq!(config.idle_timeout, Duration::from_secs(700));
        assert_eq!(
            config.listen,
            vec!["127.0.0.1:1110".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(config.plugin_config, r#"{"a":1}"#);
        let config =
            parse(&["--config", file.to_str().unwrap(), "--plugin-config", "[2]"]).unwrap();
        assert_eq!(config.plugin_config, "[2]");
    }

    #[test]
    fn errors_name_the_field_and_file() {
        let file = write_temp("unknown.json", r#"{"plugin": "x", "idle_timout": 5}"#);
        let err = parse(&["--config", file.to_str().unwrap()]).unwrap_err();
        assert!(
            err.contains("unknown.json") && err.contains("idle_timout"),
            "{err}"
        );
        let err = parse(&["--plugin", "x", "--listen", "localhost"]).unwrap_err();
        assert!(err.contains("--listen localhost"), "{err}");
        let err = parse(&["--plugin", "x", "--plugin-config", "{nope"]).unwrap_err();
        assert!(err.starts_with("--plugin-config: not valid JSON"), "{err}");
        let err =
            parse(&["--plugin", "x", "--plugin-config", "@/nonexistent/cfg.json"]).unwrap_err();
        assert!(err.contains("/nonexistent/cfg.json"), "{err}");
        let err = parse(&["--plugin", "x", "--greeting", &"x".repeat(507)]).unwrap_err();
        assert!(err.starts_with("greeting:"), "{err}");
        assert!(parse(&[]).unwrap_err().contains("--plugin is required"));
        let err = parse(&["--plugin", "x", "--idle-timeout", "0"]).unwrap_err();
        assert!(err.starts_with("idle_timeout:"), "{err}");
    }

    #[test]
    fn plugin_config_from_a_file() {
        let file = write_temp("plugin.json", r#"{"users": {}}"#);
        let config = parse(&[
            "--plugin",
            "x",
            "--plugin-config",
            &format!("@{}", file.display()),
        ])
        .unwrap();
        assert_eq!(config.plugin_config, r#"{"users":{}}"#);
    }
}
