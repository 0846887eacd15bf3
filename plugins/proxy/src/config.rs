//! The plugin configuration, from the `--plugin-config` JSON (keys in `config_help.txt`).
//! Everything is checked here, at startup, and every error names its field
//! (`routes.@example.org.tls: unknown variant ...`): serde finds the path and the unknown
//! keys, the rest is checked below with the same paths.

use crate::endpoint::{Address, Endpoint, Security, TlsTarget, POP3S_PORT, POP3_PORT};
use crate::routing::Routes;
use pop3_client_tls as tls;
use pop3_plugin_api::PopError;
use rustls::pki_types::ServerName;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

const EXAMPLE: &str = r#"{"upstream": "pop.example.net:995", "tls": "implicit"}"#;

pub struct Config {
    pub routes: Routes,
    pub timeouts: Timeouts,
    /// The proxy's host name for `Received:` headers; `None` without `add_received`.
    pub received_by: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// For each call from the host as a whole (`io_timeout`): a login, the listing, one read
    /// of a message, the UPDATE. Below the host's default backend timeout (30 s), so that a
    /// slow upstream fails here, with a log line that names it, before the host gives up.
    pub call: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            call: Duration::from_secs(20),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum TlsMode {
    #[default]
    None,
    Starttls,
    Implicit,
}

/// The keys a route has. The top level has them too, as the default route and as defaults
/// for the other routes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteKeys {
    upstream: String,
    tls: Option<TlsMode>,
    ca_file: Option<PathBuf>,
    server_name: Option<String>,
    insecure: Option<bool>,
    strip_domain: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopKeys {
    upstream: Option<String>,
    tls: Option<TlsMode>,
    ca_file: Option<PathBuf>,
    server_name: Option<String>,
    insecure: Option<bool>,
    strip_domain: Option<bool>,
    connect_timeout: Option<f64>,
    io_timeout: Option<f64>,
    add_received: Option<bool>,
    hostname: Option<String>,
    #[serde(default)]
    routes: BTreeMap<String, RouteKeys>,
}

/// Parses and checks the config text. There is no useful default: `null` (no
/// `--plugin-config`) is an error that asks for an upstream.
pub fn parse(text: &str) -> Result<Config, PopError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| invalid("", format!("not JSON: {err}")))?;
    if value.is_null() {
        return Err(invalid("upstream", format!("required, e.g. {EXAMPLE}")));
    }
    if !value.is_object() {
        return Err(invalid("", format!("expected an object, e.g. {EXAMPLE}")));
    }
    let top: TopKeys = serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        invalid(if path == "." { "" } else { &path }, err.into_inner())
    })?;
    let defaults = RouteKeys {
        upstream: top
            .upstream
            .ok_or_else(|| invalid("upstream", format!("required, e.g. {EXAMPLE}")))?,
        tls: top.tls,
        ca_file: top.ca_file,
        server_name: top.server_name,
        insecure: top.insecure,
        strip_domain: top.strip_domain,
    };
    let mut routes = Routes::new(endpoint(&defaults, &defaults, "")?);
    for (key, route) in &top.routes {
        let prefix = format!("routes.{key}.");
        let endpoint = endpoint(route, &defaults, &prefix)?;
        routes
            .add(key, endpoint)
            .map_err(|problem| invalid(&format!("routes.{key}"), problem))?;
    }
    let timeouts = Timeouts {
        connect: seconds("connect_timeout", top.connect_timeout)?
            .unwrap_or(Timeouts::default().connect),
        call: seconds("io_timeout", top.io_timeout)?.unwrap_or(Timeouts::default().call),
    };
    let one_word = |name: &String| {
        !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c.is_control())
    };
    if top.hostname.as_ref().is_some_and(|name| !one_word(name)) {
        return Err(invalid(
            "hostname",
            "expected one word, e.g. \"pop-proxy.example.net\"",
        ));
    }
    let received_by = top.add_received.unwrap_or(false).then(|| {
        top.hostname
            .unwrap_or_else(crate::received::system_hostname)
    });
    Ok(Config {
        routes,
        timeouts,
        received_by,
    })
}

/// The endpoint of `route`, taking what it does not set from `defaults`; `prefix` is its
/// path in the config. `server_name` is not inherited: it belongs to one host.
fn endpoint(route: &RouteKeys, defaults: &RouteKeys, prefix: &str) -> Result<Endpoint, PopError> {
    let path = |key: &str| format!("{prefix}{key}");
    let mode = route.tls.or(defaults.tls).unwrap_or_default();
    let default_port = match mode {
        TlsMode::Implicit => POP3S_PORT,
        _ => POP3_PORT,
    };
    let address = Address::parse(&route.upstream, default_port)
        .map_err(|problem| invalid(&path("upstream"), problem))?;
    let insecure = route.insecure.or(defaults.insecure).unwrap_or(false);
    let target = || -> Result<TlsTarget, PopError> {
        let name = route
            .server_name
            .clone()
            .unwrap_or_else(|| address.host.clone());
        let name_path = path(if route.server_name.is_some() {
            "server_name"
        } else {
            "upstream"
        });
        let server_name = ServerName::try_from(name)
            .map_err(|err| invalid(&name_path, format!("not a TLS server name: {err}")))?;
        // The error goes to the key that brought the trust setting in.
        let (ca_file, trust_path) = match (&route.ca_file, &defaults.ca_file) {
            (Some(file), _) => (Some(file), path("ca_file")),
            (None, Some(file)) => (Some(file), "ca_file".to_string()),
            (None, None) => (None, path("tls")),
        };
        let config = tls::client_config(ca_file.map(PathBuf::as_path), insecure)
            .map_err(|problem| invalid(&trust_path, problem))?;
        Ok(TlsTarget {
            config,
            server_name,
            verified: !insecure,
        })
    };
    let security = match mode {
        TlsMode::None => Security::Plain,
        TlsMode::Starttls => Security::StartTls(target()?),
        TlsMode::Implicit => Security::Implicit(target()?),
    };
    Ok(Endpoint {
        address,
        security,
        strip_domain: route
            .strip_domain
            .or(defaults.strip_domain)
            .unwrap_or(false),
    })
}

/// A positive, finite number of seconds (fractions allowed), if given.
fn seconds(key: &str, value: Option<f64>) -> Result<Option<Duration>, PopError> {
    value
        .map(|secs| {
            Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| invalid(key, "expected a number of seconds above 0"))
        })
        .transpose()
}

/// The init error for a bad value at `path` (empty for the whole config).
fn invalid(path: &str, problem: impl Display) -> PopError {
    match path {
        "" => PopError::permanent(format!("proxy config: {problem}")),
        path => PopError::permanent(format!("proxy config: {path}: {problem}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("{text} was accepted"),
            Err(err) => {
                assert_eq!(err.code, pop3_plugin_api::ResponseCode::SYS_PERM);
                err.message
            }
        }
    }

    #[test]
    fn no_config_asks_for_an_upstream() {
        for text in ["null", "{}"] {
            let message = error(text);
            assert!(
                message.starts_with("proxy config: upstream: required, e.g. {"),
                "{message}"
            );
        }
        assert!(error("{").starts_with("proxy config: not JSON:"));
        assert!(error("[1]").starts_with("proxy config: expected an object"));
    }

    #[test]
    fn the_smallest_config_gets_the_defaults() {
        let config = parse(r#"{"upstream": "127.0.0.1"}"#).unwrap();
        let default = config.routes.default_route();
        assert_eq!(default.address.to_string(), "127.0.0.1:110");
        assert_eq!(default.security.name(), "none");
        assert!(!default.strip_domain);
        assert_eq!(config.timeouts, Timeouts::default());
        assert_eq!(config.received_by, None);
        assert_eq!(config.routes.iter().count(), 1);
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            r#"{"upstream": "pop.example.net", "tls": "implicit", "insecure": true,
                "server_name": "mail.example.net", "strip_domain": true,
                "connect_timeout": 0.5, "io_timeout": 3, "add_received": true,
                "hostname": "proxy.example",
                "routes": {"@b.example": {"upstream": "b.example:1110", "tls": "none"},
                           "carol": {"upstream": "c.example", "strip_domain": false}}}"#,
        )
        .unwrap();
        let default = config.routes.default_route();
        assert_eq!(default.address.to_string(), "pop.example.net:995");
        let tls = default.security.target().unwrap();
        assert!(!tls.verified);
        assert_eq!(tls.server_name.to_str(), "mail.example.net");
        assert_eq!(config.timeouts.connect, Duration::from_millis(500));
        assert_eq!(config.timeouts.call, Duration::from_secs(3));
        assert_eq!(config.received_by.as_deref(), Some("proxy.example"));
        let b = config.routes.find("x@B.example");
        assert_eq!(
            (b.address.to_string().as_str(), b.security.name()),
            ("b.example:1110", "none")
        );
        assert!(b.strip_domain, "inherited");
        let carol = config.routes.find("carol");
        assert_eq!(
            carol.address.to_string(),
            "c.example:995",
            "tls inherited, so port 995"
        );
        assert!(!carol.strip_domain);
        let tls = carol.security.target().unwrap();
        assert_eq!(
            tls.server_name.to_str(),
            "c.example",
            "server_name is not inherited"
        );
        assert!(!tls.verified, "insecure is inherited");
    }

    #[test]
    fn errors_name_the_field() {
        for (text, start) in [
            (
                r#"{"upstream": "h", "tsl": "none"}"#,
                "proxy config: tsl: unknown field `tsl`",
            ),
            (
                r#"{"upstream": "h", "tls": "ssl"}"#,
                "proxy config: tls: unknown variant `ssl`",
            ),
            (
                r#"{"upstream": 110}"#,
                "proxy config: upstream: invalid type",
            ),
            (
                r#"{"upstream": "h:x"}"#,
                "proxy config: upstream: \"h:x\": the port",
            ),
            (
                r#"{"upstream": "h", "routes": {"@a.example": {"upstream": "a", "tls": "TLS"}}}"#,
                "proxy config: routes.@a.example.tls: unknown variant `TLS`",
            ),
            (
                r#"{"upstream": "h", "routes": {"alice": {"tls": "none"}}}"#,
                "proxy config: routes.alice: missing field `upstream`",
            ),
            (
                r#"{"upstream": "h", "routes": {"alice": {"upstream": "a b"}}}"#,
                "proxy config: routes.alice.upstream: \"a b\" is not host:port",
            ),
            (
                r#"{"upstream": "h", "routes": {"@": {"upstream": "a"}}}"#,
                "proxy config: routes.@: expected a domain",
            ),
            (
                r#"{"upstream": "h", "routes": {"@A.example": {"upstream": "a"}, "@a.example": {"upstream": "b"}}}"#,
                "proxy config: routes.@a.example: another route has the same domain",
            ),
            (
                r#"{"upstream": "h", "routes": {"bob": {"upstream": "b", "tls": "starttls", "ca_file": "/nonexistent.pem"}}}"#,
                "proxy config: routes.bob.ca_file: cannot read certificates from /nonexistent.pem",
            ),
            (
                r#"{"upstream": "h", "ca_file": "/nonexistent.pem", "routes": {"bob": {"upstream": "b", "tls": "implicit"}}}"#,
                "proxy config: ca_file: cannot read certificates from /nonexistent.pem",
            ),
            (
                r#"{"upstream": "h", "tls": "implicit", "insecure": true, "server_name": "a b"}"#,
                "proxy config: server_name: not a TLS server name",
            ),
            (
                r#"{"upstream": "h", "connect_timeout": 0}"#,
                "proxy config: connect_timeout: expected",
            ),
            (
                r#"{"upstream": "h", "io_timeout": -1}"#,
                "proxy config: io_timeout: expected",
            ),
            (
                r#"{"upstream": "h", "hostname": "two words"}"#,
                "proxy config: hostname: expected one word",
            ),
        ] {
            let message = error(text);
            assert!(
                message.starts_with(start),
                "{text}\n gave {message}\n not {start}"
            );
        }
    }
}
