//! The settings as given: one struct, [`Settings`], is both the clap parser and the JSON
//! schema, so a setting is declared once (`--idle-timeout` on the command line is
//! `"idle_timeout"` in the file). Flags and file are merged by one rule ([`Settings::over`]),
//! and every default lives in [`Settings::defaults`], which `--help` shows.

use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Parser, Deserialize, Serialize, Debug, Default, Clone)]
// The binary's name, version and about text are main.rs's `Cli`, which flattens these.
#[command(name = "pop3host")]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Plugin library: a path, or a NAME for libNAME.so (Windows: NAME.dll; macOS:
    /// libNAME.dylib) next to the binary, in ../lib/pop3host or in --plugin-dir.
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

    /// Address to serve POP3 on (repeatable).
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
    /// 127.0.0.0/8 or ::1 only), or always.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub plaintext_auth: Option<PlaintextAuth>,

    /// Networks exempt from the per-address limits and the failed-login delay (repeatable;
    /// "none" for no exemption).
    #[arg(long, value_name = "CIDR")]
    #[serde(default)]
    pub trusted_networks: Vec<String>,

    /// Connections from these networks must start with a PROXY protocol v1 or v2 header,
    /// whose client address then counts; others must not send one (repeatable).
    #[arg(long, value_name = "CIDR")]
    #[serde(default)]
    pub proxy_protocol_from: Vec<String>,

    /// Connections at once, in all.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Connections at once from one client address.
    #[arg(long, value_name = "N")]
    pub max_connections_per_ip: Option<usize>,

    /// Leading bits of an IPv6 client address that count as one client for the per-address
    /// limits and the failed-login delay, 1 to 128.
    #[arg(long, value_name = "BITS")]
    pub ipv6_prefix_length: Option<u8>,

    /// Logged-in sessions at once of one user.
    #[arg(long, value_name = "N")]
    pub max_sessions_per_user: Option<usize>,

    /// Failed logins on one connection before it is closed.
    #[arg(long, value_name = "N")]
    pub max_auth_failures: Option<usize>,

    /// Longest delay, in seconds, before answering a failed login; the delay starts at 1 s
    /// and doubles per failure from the same address (0 turns it off).
    #[arg(long, value_name = "SECONDS")]
    pub auth_failure_delay_max: Option<u64>,

    /// User to run as after binding ports, loading the plugin and reading certificates (Unix).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Group to run as (Unix) [default: the --user's primary group].
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,

    /// Directory to chroot into before dropping privileges (mail and certificate paths are
    /// then seen from inside it; Unix).
    #[arg(long, value_name = "DIR")]
    pub chroot: Option<PathBuf>,

    /// Text of the greeting after "+OK".
    #[arg(long, value_name = "TEXT")]
    pub greeting: Option<String>,

    /// Host name in APOP timestamps [default: the system's host name].
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Seconds a client may stay silent before it is logged out (RFC 1939 asks for at least
    /// 600).
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,

    /// Seconds one backend call may take before the session gets -ERR [SYS/TEMP].
    #[arg(long, value_name = "SECONDS")]
    pub backend_timeout: Option<u64>,

    /// Backend calls running at once; more wait, then fail with [SYS/TEMP].
    #[arg(long, value_name = "N")]
    pub backend_concurrency: Option<usize>,

    /// Seconds sessions get to finish after SIGTERM/SIGINT (Windows: Ctrl-C, a service's
    /// stop) before they are closed.
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_grace: Option<u64>,

    /// Log filter: error, warn, info, debug, trace, or a tracing directive [default: RUST_LOG,
    /// else info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log line format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,

    /// Append the log to FILE instead of writing it to stderr (a Windows service has no
    /// console).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Serve GET /metrics (Prometheus) and GET /health on ADDR:PORT, or on PORT of 127.0.0.1
    /// (no authentication: keep it on loopback or a management network).
    #[arg(long, value_name = "ADDR:PORT|PORT")]
    pub metrics_listen: Option<String>,

    /// Unix socket for `pop3host who` and `pop3host kick`, usable only by its owner (the user
    /// that started the server; Unix only).
    #[arg(long, value_name = "PATH")]
    pub admin_socket: Option<PathBuf>,

    /// Log a summary of each session when it ends, at info level: duration, TLS, messages
    /// and octets retrieved, deletions, and how it ended.
    #[arg(long, value_name = "BOOL")]
    pub session_summary: Option<bool>,

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

#[derive(ValueEnum, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PlaintextAuth {
    Never,
    Loopback,
    Always,
}

#[derive(ValueEnum, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The rule for a setting given in two places: the higher one wins where it has a value.
trait Merge {
    fn over(self, lower: Self) -> Self;
}

impl<T> Merge for Option<T> {
    fn over(self, lower: Self) -> Self {
        self.or(lower)
    }
}

/// A repeatable setting is given as a whole: the higher list, unless it is empty.
impl<T> Merge for Vec<T> {
    fn over(self, lower: Self) -> Self {
        if self.is_empty() {
            lower
        } else {
            self
        }
    }
}

impl Merge for bool {
    fn over(self, lower: Self) -> Self {
        self || lower
    }
}

impl Settings {
    /// Every built-in default, the one place each is written. (The host name and the log
    /// level have computed defaults, which their help describes.)
    pub fn defaults() -> Self {
        Self {
            listen: vec!["0.0.0.0:110".into(), "[::]:110".into()],
            plaintext_auth: Some(PlaintextAuth::Loopback),
            trusted_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            max_connections: Some(1000),
            max_connections_per_ip: Some(20),
            ipv6_prefix_length: Some(64),
            max_sessions_per_user: Some(10),
            max_auth_failures: Some(3),
            auth_failure_delay_max: Some(15),
            greeting: Some("pop3host ready.".into()),
            idle_timeout: Some(600),
            backend_timeout: Some(30),
            backend_concurrency: Some(64),
            shutdown_grace: Some(10),
            log_format: Some(LogFormat::Text),
            session_summary: Some(true),
            ..Self::default()
        }
    }

    /// These settings where they have a value, else `lower`'s: flags over the file, and
    /// both over the defaults.
    pub fn over(self, lower: Settings) -> Settings {
        Settings {
            plugin: self.plugin.over(lower.plugin),
            plugin_dir: self.plugin_dir.over(lower.plugin_dir),
            plugin_config: self.plugin_config.over(lower.plugin_config),
            listen: self.listen.over(lower.listen),
            tls_listen: self.tls_listen.over(lower.tls_listen),
            tls_cert: self.tls_cert.over(lower.tls_cert),
            tls_key: self.tls_key.over(lower.tls_key),
            plaintext_auth: self.plaintext_auth.over(lower.plaintext_auth),
            trusted_networks: self.trusted_networks.over(lower.trusted_networks),
            proxy_protocol_from: self.proxy_protocol_from.over(lower.proxy_protocol_from),
            max_connections: self.max_connections.over(lower.max_connections),
            max_connections_per_ip: self
                .max_connections_per_ip
                .over(lower.max_connections_per_ip),
            ipv6_prefix_length: self.ipv6_prefix_length.over(lower.ipv6_prefix_length),
            max_sessions_per_user: self.max_sessions_per_user.over(lower.max_sessions_per_user),
            max_auth_failures: self.max_auth_failures.over(lower.max_auth_failures),
            auth_failure_delay_max: self
                .auth_failure_delay_max
                .over(lower.auth_failure_delay_max),
            user: self.user.over(lower.user),
            group: self.group.over(lower.group),
            chroot: self.chroot.over(lower.chroot),
            greeting: self.greeting.over(lower.greeting),
            hostname: self.hostname.over(lower.hostname),
            idle_timeout: self.idle_timeout.over(lower.idle_timeout),
            backend_timeout: self.backend_timeout.over(lower.backend_timeout),
            backend_concurrency: self.backend_concurrency.over(lower.backend_concurrency),
            shutdown_grace: self.shutdown_grace.over(lower.shutdown_grace),
            log_level: self.log_level.over(lower.log_level),
            log_format: self.log_format.over(lower.log_format),
            log_file: self.log_file.over(lower.log_file),
            session_summary: self.session_summary.over(lower.session_summary),
            metrics_listen: self.metrics_listen.over(lower.metrics_listen),
            admin_socket: self.admin_socket.over(lower.admin_socket),
            config: self.config.over(lower.config),
            describe: self.describe.over(lower.describe),
            check_config: self.check_config.over(lower.check_config),
        }
    }
}

/// `command` with each setting's default from [`Settings::defaults`] at the end of its help.
pub fn show_defaults(command: clap::Command) -> clap::Command {
    let defaults = serde_json::to_value(Settings::defaults()).unwrap_or_default();
    command.mut_args(|arg| {
        let shown = match defaults.get(arg.get_id().as_str()) {
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(serde_json::Value::Number(number)) => number.to_string(),
            Some(serde_json::Value::Bool(flag)) => flag.to_string(),
            Some(serde_json::Value::Array(items)) if !items.is_empty() => items
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect::<Vec<_>>()
                .join(" and "),
            _ => return arg,
        };
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        arg.help(format!("{help} [default: {shown}]"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_shows_the_defaults() {
        let help = show_defaults(Settings::command()).render_help().to_string();
        for shown in [
            "[default: 0.0.0.0:110 and [::]:110]",
            "[default: loopback]",
            "[default: 1000]",
            "[default: pop3host ready.]",
            "[default: text]",
            "[default: true]",
        ] {
            assert!(help.contains(shown), "{shown} in {help}");
        }
    }

    #[test]
    fn the_higher_value_wins_where_it_has_one() {
        let flags = Settings {
            idle_timeout: Some(700),
            ..Settings::default()
        };
        let file = Settings {
            idle_timeout: Some(900),
            listen: vec!["127.0.0.1:1110".into()],
            ..Settings::default()
        };
        let merged = flags.over(file).over(Settings::defaults());
        assert_eq!(merged.idle_timeout, Some(700));
        assert_eq!(merged.listen, ["127.0.0.1:1110"]);
        assert_eq!(merged.backend_timeout, Some(30));
    }
}
