//! Settings from flags and a JSON file, merged (flags win) and validated into a [`Config`].
//!
//! [`Settings`] is what was given, flag or file field alike ([`settings`]); the file and
//! `--plugin-config` are read in [`file`]. Errors name the flag or field and the file.

mod file;
mod settings;

pub use settings::{show_defaults, LogFormat, PlaintextAuth, Settings};

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

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
    /// Where the log goes instead of stderr.
    pub log_file: Option<PathBuf>,
    pub session_summary: bool,
    /// Where `/metrics` and `/health` are served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    pub admin_socket: Option<PathBuf>,
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

const PLUGIN_REQUIRED: &str =
    "--plugin is required: a path to a plugin library, or a NAME such as static_messages";

impl Config {
    pub fn from_settings(flags: Settings) -> Result<Self, String> {
        let (from_file, file_plugin_config) = match &flags.config {
            Some(path) => file::read(path)?,
            None => (Settings::default(), None),
        };
        let plugin_config = match &flags.plugin_config {
            Some(arg) => Some(file::plugin_config_arg(arg)?),
            None => file_plugin_config,
        };
        let given = flags.over(from_file);
        let listen_is_default = given.listen.is_empty();
        let s = given.over(Settings::defaults());
        let listen = addresses("--listen", &s.listen)?;
        let tls_listen = addresses("--tls-listen", &s.tls_listen)?;
        let tls = match (s.tls_cert, s.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        if tls.is_none() && !tls_listen.is_empty() {
            return Err("--tls-listen needs --tls-cert and --tls-key".into());
        }
        let trusted = match s.trusted_networks.as_slice() {
            [none] if none == "none" => Vec::new(),
            given => networks("--trusted-networks", given)?,
        };
        let proxy_protocol_from = networks("--proxy-protocol-from", &s.proxy_protocol_from)?;
        let limits = LimitSettings {
            trusted,
            max_connections: at_least_one("max_connections", s.max_connections)?,
            max_connections_per_ip: at_least_one(
                "max_connections_per_ip",
                s.max_connections_per_ip,
            )?,
            max_sessions_per_user: at_least_one("max_sessions_per_user", s.max_sessions_per_user)?,
            max_auth_failures: at_least_one("max_auth_failures", s.max_auth_failures)?,
            auth_failure_delay_max: Duration::from_secs(defaulted(
                "auth_failure_delay_max",
                s.auth_failure_delay_max,
            )?),
            ipv6_prefix_length: match defaulted("ipv6_prefix_length", s.ipv6_prefix_length)? {
                bits @ 1..=128 => bits,
                _ => return Err("ipv6_prefix_length: must be 1 to 128".into()),
            },
        };
        let privileges = Privileges {
            user: s.user,
            group: s.group,
            chroot: s.chroot,
        };
        crate::privileges::validate(&privileges)?;
        let greeting = defaulted("greeting", s.greeting)?;
        if greeting.len() > MAX_GREETING || greeting.chars().any(char::is_control) {
            return Err(format!(
                "greeting: must be at most {MAX_GREETING} octets of text without control \
                 characters"
            ));
        }
        let backend_concurrency = at_least_one("backend_concurrency", s.backend_concurrency)?;
        Ok(Self {
            plugin: s.plugin.ok_or(PLUGIN_REQUIRED)?,
            plugin_dir: s.plugin_dir,
            plugin_config: plugin_config.map_or_else(|| "null".to_string(), |v| v.to_string()),
            listen,
            listen_is_default,
            tls_listen,
            tls,
            plaintext_auth: defaulted("plaintext_auth", s.plaintext_auth)?,
            limits,
            proxy_protocol_from,
            privileges,
            greeting,
            hostname: s.hostname.unwrap_or_else(system_hostname),
            idle_timeout: seconds("idle_timeout", s.idle_timeout)?,
            backend_timeout: seconds("backend_timeout", s.backend_timeout)?,
            backend_concurrency,
            shutdown_grace: seconds("shutdown_grace", s.shutdown_grace)?,
            log_level: s.log_level,
            log_format: defaulted("log_format", s.log_format)?,
            log_file: s.log_file,
            session_summary: defaulted("session_summary", s.session_summary)?,
            metrics_listen: s
                .metrics_listen
                .as_deref()
                .map(metrics_address)
                .transpose()?,
            admin_socket: admin_socket(s.admin_socket)?,
            describe: s.describe,
            check_config: s.check_config,
        })
    }
}

/// `--admin-socket`: a Unix socket, so refused on Windows here, where `--check-config` and
/// `service install` see it too.
fn admin_socket(path: Option<PathBuf>) -> Result<Option<PathBuf>, String> {
    match path {
        Some(path) if cfg!(windows) => Err(format!(
            "--admin-socket {}: not available on Windows (it is a Unix socket); `pop3host who` \
             and `pop3host kick` work on Unix only",
            path.display()
        )),
        path => Ok(path),
    }
}

/// The value of a setting that [`Settings::defaults`] always gives one.
fn defaulted<T>(name: &str, value: Option<T>) -> Result<T, String> {
    value.ok_or_else(|| format!("{name}: no value and no default"))
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

/// `--metrics-listen`: ADDR:PORT, or a PORT on loopback.
fn metrics_address(value: &str) -> Result<SocketAddr, String> {
    match value.parse::<u16>() {
        Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => Ok(addresses("--metrics-listen", &[value.to_string()])?[0]),
    }
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

fn at_least_one(name: &str, value: Option<usize>) -> Result<usize, String> {
    match defaulted(name, value)? {
        0 => Err(format!("{name}: must be at least 1")),
        n => Ok(n),
    }
}

fn seconds(name: &str, value: Option<u64>) -> Result<Duration, String> {
    match defaulted(name, value)? {
        0 => Err(format!("{name}: must be at least 1 second")),
        s => Ok(Duration::from_secs(s)),
    }
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
    use clap::Parser;

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
            r#"{"plugin": "maildir", "listen": ["127.0.0.1:1110"], "idle_timeout": 900,
                "plugin_config": {"a": 1}}"#,
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
    fn the_file_may_carry_comments() {
        let file = write_temp(
            "comments.json",
            "// a shipped default\n{\n  /* the plugin */ \"plugin\": \"maildir\",\n  \"idle_timeout\": 900 // seconds\n}\n",
        );
        let config = parse(&["--config", file.to_str().unwrap()]).unwrap();
        assert_eq!(config.plugin, "maildir");
        assert_eq!(config.idle_timeout, Duration::from_secs(900));
        let file = write_temp("comment-error.json", "// line 1\n{\n  \"plugin\": x\n}\n");
        let err = parse(&["--config", file.to_str().unwrap()]).unwrap_err();
        assert!(
            err.contains("line 3"),
            "positions survive the comments: {err}"
        );
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
        let admin = parse(&["--plugin", "x", "--admin-socket", "/run/pop3host.sock"]);
        #[cfg(unix)]
        assert!(admin.is_ok());
        #[cfg(windows)]
        assert!(admin
            .unwrap_err()
            .starts_with("--admin-socket /run/pop3host.sock: not available"));
        let err = parse(&["--plugin", "x", "--chroot", "/var/empty"]).unwrap_err();
        #[cfg(unix)]
        assert!(err.contains("need --user"), "{err}");
        #[cfg(windows)]
        assert!(
            err.starts_with("--chroot is not supported on Windows"),
            "{err}"
        );
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
