//! Settings from flags and a JSON file, merged (flags win) and validated into a [`Config`].
//!
//! One struct, [`Settings`], is both the clap parser and the JSON schema, so a setting is
//! declared once: `--idle-timeout` on the command line is `"idle_timeout"` in the file.
//! Errors name the flag or field and the file.

use clap::{Parser, ValueEnum};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Deserialize, Debug, Default, Clone)]
// The binary's name, version and about text are main.rs's `Cli`, which flattens these.
#[command(name = "pop3host")]
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

    /// Address to serve POP3 over implicit TLS on, usually port 995 (repeatable; needs
    /// --tls-cert and --tls-key).
    #[arg(long, value_name = "ADDR:PORT")]
    #[serde(default)]
    pub tls_listen: Vec<String>,

    /// PEM certificate chain; with --tls-key it enables STLS on every --listen address.
    /// Reloaded on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Where USER/PASS and SASL PLAIN/LOGIN work without TLS: never, loopback (clients on
    /// 127.0.0.0/8 or ::1 only), or always [default: loopback].
    #[arg(long, value_enum, value_name = "POLICY")]
    pub plaintext_auth: Option<PlaintextAuth>,

    /// Networks exempt from the per-address limits and the failed-login delay (repeatable;
    /// "none" for no exemption) [default: 127.0.0.0/8 and ::1/128].
    #[arg(long, value_name = "CIDR")]
    #[serde(default)]
    pub trusted_networks: Vec<String>,

    /// Connections from these networks must start with a PROXY protocol v1 or v2 header,
    /// whose client address then counts; others must not send one (repeatable).
    #[arg(long, value_name = "CIDR")]
    #[serde(default)]
    pub proxy_protocol_from: Vec<String>,

    /// Connections at once, in all [default: 1000].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Connections at once from one client address [default: 20].
    #[arg(long, value_name = "N")]
    pub max_connections_per_ip: Option<usize>,

    /// Leading bits of an IPv6 client address that count as one client for the per-address
    /// limits and the failed-login delay, 1 to 128 [default: 64].
    #[arg(long, value_name = "BITS")]
    pub ipv6_prefix_length: Option<u8>,

    /// Logged-in sessions at once of one user [default: 10].
    #[arg(long, value_name = "N")]
    pub max_sessions_per_user: Option<usize>,

    /// Failed logins on one connection before it is closed [default: 3].
    #[arg(long, value_name = "N")]
    pub max_auth_failures: Option<usize>,

    /// Longest delay, in seconds, before answering a failed login; the delay starts at 1 s
    /// and doubles per failure from the same address (0 turns it off) [default: 15].
    #[arg(long, value_name = "SECONDS")]
    pub auth_failure_delay_max: Option<u64>,

    /// User to run as after binding ports, loading the plugin and reading certificates.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Group to run as [default: the --user's primary group].
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,

    /// Directory to chroot into before dropping privileges (mail and certificate paths are
    /// then seen from inside it).
    #[arg(long, value_name = "DIR")]
    pub chroot: Option<PathBuf>,

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

    /// Check the settings, the plugin (loaded and initialised) and the certificate, then exit
    /// without serving.
    #[arg(long)]
    #[serde(skip)]
    pub check_config: bool,
}

#[derive(ValueEnum, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PlaintextAuth {
    Never,
    Loopback,
    Always,
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
    pub tls_listen: Vec<SocketAddr>,
    /// (certificate, key) files.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub plaintext_auth: PlaintextAuth,
    pub limits: LimitSettings,
    pub proxy_protocol_from: Vec<IpNet>,
    pub privileges: Privileges,
    pub greeting: String,
    pub hostname: String,
    pub idle_timeout: Duration,
    pub backend_timeout: Duration,
    pub backend_concurrency: usize,
    pub shutdown_grace: Duration,
    pub log_level: Option<String>,
    pub log_format: LogFormat,
    pub describe: bool,
    pub check_config: bool,
}

/// Abuse limits, as configured (`server::limits` counts against them).
#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub trusted: Vec<IpNet>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_sessions_per_user: usize,
    pub max_auth_failures: usize,
    pub auth_failure_delay_max: Duration,
    /// IPv6 clients are counted per network of this many bits.
    pub ipv6_prefix_length: u8,
}

/// Whom to become after startup.
#[derive(Debug, Default)]
pub struct Privileges {
    pub user: Option<String>,
    pub group: Option<String>,
    pub chroot: Option<PathBuf>,
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
            addresses("--listen", &["0.0.0.0:110".into(), "[::]:110".into()])?
        } else {
            addresses("--listen", &listen_settings)?
        };
        let tls_listen = addresses("--tls-listen", &or_file(cli.tls_listen, file.tls_listen))?;
        let tls = match (cli.tls_cert.or(file.tls_cert), cli.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        if tls.is_none() && !tls_listen.is_empty() {
            return Err("--tls-listen needs --tls-cert and --tls-key".into());
        }
        let trusted = or_file(cli.trusted_networks, file.trusted_networks);
        let trusted = if trusted.is_empty() {
            networks(
                "--trusted-networks",
                &["127.0.0.0/8".into(), "::1/128".into()],
            )?
        } else if trusted == ["none"] {
            Vec::new()
        } else {
            networks("--trusted-networks", &trusted)?
        };
        let proxy_protocol_from = networks(
            "--proxy-protocol-from",
            &or_file(cli.proxy_protocol_from, file.proxy_protocol_from),
        )?;
        let count = |name: &str, cli: Option<usize>, file: Option<usize>, default: usize| {
            at_least_one(name, cli.or(file), default)
        };
        let limits = LimitSettings {
            trusted,
            max_connections: count(
                "max_connections",
                cli.max_connections,
                file.max_connections,
                1000,
            )?,
            max_connections_per_ip: count(
                "max_connections_per_ip",
                cli.max_connections_per_ip,
                file.max_connections_per_ip,
                20,
            )?,
            max_sessions_per_user: count(
                "max_sessions_per_user",
                cli.max_sessions_per_user,
                file.max_sessions_per_user,
                10,
            )?,
            max_auth_failures: count(
                "max_auth_failures",
                cli.max_auth_failures,
                file.max_auth_failures,
                3,
            )?,
            auth_failure_delay_max: Duration::from_secs(
                cli.auth_failure_delay_max
                    .or(file.auth_failure_delay_max)
                    .unwrap_or(15),
            ),
            ipv6_prefix_length: match cli.ipv6_prefix_length.or(file.ipv6_prefix_length) {
                None => 64,
                Some(bits @ 1..=128) => bits,
                Some(_) => return Err("ipv6_prefix_length: must be 1 to 128".into()),
            },
        };
        let privileges = Privileges {
            user: cli.user.or(file.user),
            group: cli.group.or(file.group),
            chroot: cli.chroot.or(file.chroot),
        };
        if privileges.user.is_none() && (privileges.group.is_some() || privileges.chroot.is_some())
        {
            return Err("--group and --chroot need --user: the server must not keep root".into());
        }
        let greeting = cli
            .greeting
            .or(file.greeting)
            .unwrap_or_else(|| "pop3host ready.".into());
        if greeting.len() > MAX_GREETING || greeting.chars().any(char::is_control) {
            return Err(format!(
                "greeting: must be at most {MAX_GREETING} octets of text without control characters"
            ));
        }
        let backend_concurrency = at_least_one(
            "backend_concurrency",
            cli.backend_concurrency.or(file.backend_concurrency),
            64,
        )?;
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
            tls_listen,
            tls,
            plaintext_auth: cli.plaintext_auth.or(file.plaintext_auth).unwrap_or(PlaintextAuth::Loopback),
            limits,
            proxy_protocol_from,
            privileges,
            greeting,
            hostname: cli.hostname.or(file.hostname).unwrap_or_else(system_hostname),
            idle_timeout: seconds("idle_timeout", cli.idle_timeout.or(file.idle_timeout), 600)?,
            backend_timeout: seconds("backend_timeout", cli.backend_timeout.or(file.backend_timeout), 30)?,
            backend_concurrency,
            shutdown_grace: seconds("shutdown_grace", cli.shutdown_grace.or(file.shutdown_grace), 10)?,
            log_level: cli.log_level.or(file.log_level),
            log_format: cli.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            describe: cli.describe,
            check_config: cli.check_config,
        })
    }
}

/// A list setting: the flags' values if any were given, else the file's.
fn or_file(cli: Vec<String>, file: Vec<String>) -> Vec<String> {
    if cli.is_empty() {
        file
    } else {
        cli
    }
}

fn addresses(flag: &str, values: &[String]) -> Result<Vec<SocketAddr>, String> {
    values
        .iter()
        .map(|a| {
            a.parse().map_err(|_| {
                format!("{flag} {a}: not an ADDR:PORT such as 127.0.0.1:1110 or [::1]:1110")
            })
        })
        .collect()
}

/// CIDR networks; a bare address is a network of one.
fn networks(flag: &str, values: &[String]) -> Result<Vec<IpNet>, String> {
    values
        .iter()
        .map(|n| {
            n.parse::<IpNet>()
                .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{flag} {n}: not a network such as 10.0.0.0/8 or an address"))
        })
        .collect()
}

fn at_least_one(name: &str, value: Option<usize>, default: usize) -> Result<usize, String> {
    match value.unwrap_or(default) {
        0 => Err(format!("{name}: must be at least 1")),
        n => Ok(n),
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
    for skipped in ["config", "describe", "check_config"] {
        if object.contains_key(skipped) {
            return Err(format!(
                "{name}: field `{skipped}` is only a command-line flag"
            ));
        }
    }
    let settings = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("{name}: field `{path}`: {}", e.into_inner())
    })?;
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
        for (text, field) in [
            (
                r#"{"listen": "127.0.0.1:110"}"#,
                "field `listen`: invalid type",
            ),
            (
                r#"{"idle_timeout": "900"}"#,
                "field `idle_timeout`: invalid type",
            ),
        ] {
            let file = write_temp("types.json", text);
            let err = parse(&["--config", file.to_str().unwrap()]).unwrap_err();
            assert!(err.contains("types.json: ") && err.contains(field), "{err}");
        }
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
    fn tls_and_limits() {
        let err = parse(&["--plugin", "x", "--tls-cert", "c.pem"]).unwrap_err();
        assert_eq!(err, "--tls-cert and --tls-key go together");
        let err = parse(&["--plugin", "x", "--tls-listen", "127.0.0.1:995"]).unwrap_err();
        assert_eq!(err, "--tls-listen needs --tls-cert and --tls-key");
        let config = parse(&["--plugin", "x"]).unwrap();
        assert_eq!(config.plaintext_auth, PlaintextAuth::Loopback);
        assert_eq!(config.limits.trusted.len(), 2);
        let config = parse(&[
            "--plugin",
            "x",
            "--trusted-networks",
            "none",
            "--proxy-protocol-from",
            "10.1.2.3",
        ])
        .unwrap();
        assert!(config.limits.trusted.is_empty());
        assert_eq!(
            config.proxy_protocol_from,
            vec!["10.1.2.3/32".parse::<IpNet>().unwrap()]
        );
        let err = parse(&["--plugin", "x", "--trusted-networks", "10.0.0.0/33"]).unwrap_err();
        assert!(err.starts_with("--trusted-networks 10.0.0.0/33"), "{err}");
        assert_eq!(config.limits.ipv6_prefix_length, 64);
        let config = parse(&["--plugin", "x", "--ipv6-prefix-length", "56"]).unwrap();
        assert_eq!(config.limits.ipv6_prefix_length, 56);
        let err = parse(&["--plugin", "x", "--ipv6-prefix-length", "129"]).unwrap_err();
        assert_eq!(err, "ipv6_prefix_length: must be 1 to 128");
        let err = parse(&["--plugin", "x", "--max-connections", "0"]).unwrap_err();
        assert!(err.starts_with("max_connections:"), "{err}");
        let err = parse(&["--plugin", "x", "--chroot", "/var/empty"]).unwrap_err();
        assert!(err.contains("need --user"), "{err}");
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
