//! One upstream server as the config names it: where it is, how to secure the connection,
//! and which login name it expects. Resolved once at startup so that a bad address or an
//! unreadable CA file stops the server instead of failing sessions later.

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// POP3 (RFC 1939) and POP3 over implicit TLS (RFC 8314).
pub const POP3_PORT: u16 = 110;
pub const POP3S_PORT: u16 = 995;

pub struct Endpoint {
    pub address: Address,
    pub security: Security,
    /// Log in upstream with the part of the user name before the last `@`.
    pub strip_domain: bool,
}

impl Endpoint {
    /// The login name to send upstream for the client's `user`.
    pub fn login_name<'a>(&self, user: &'a str) -> &'a str {
        match user.rsplit_once('@') {
            Some((local, _)) if self.strip_domain => local,
            _ => user,
        }
    }
}

/// A host name or IP address and a port; resolved at each connect, so that DNS changes
/// reach running servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// Without brackets, also for IPv6.
    pub host: String,
    pub port: u16,
}

impl Address {
    /// Parses `host:port`, `host`, `[v6]:port`, `[v6]` or a bare IP address; `default_port`
    /// where none is given.
    pub fn parse(text: &str, default_port: u16) -> Result<Self, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self::new(addr.ip().to_string(), addr.port()));
        }
        let unbracketed = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'));
        if let Ok(ip) = unbracketed.unwrap_or(text).parse::<IpAddr>() {
            return Ok(Self::new(ip.to_string(), default_port));
        }
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse()
                    .map_err(|_| format!("{text:?}: the port must be a number up to 65535"))?;
                (host, port)
            }
            None => (text, default_port),
        };
        let bad = |c: char| c.is_whitespace() || c.is_control() || "/:[]@".contains(c);
        if host.is_empty() || host.contains(bad) {
            return Err(format!(
                "{text:?} is not host:port (e.g. \"pop.example.net:995\" or \"[::1]:110\")"
            ));
        }
        Ok(Self::new(host.to_string(), port))
    }

    fn new(host: String, port: u16) -> Self {
        Self { host, port }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How the connection to an upstream is secured.
pub enum Security {
    Plain,
    /// Plain connect, then STLS before anything else (RFC 2595).
    StartTls(TlsTarget),
    /// TLS from the first byte (RFC 8314).
    Implicit(TlsTarget),
}

impl Security {
    pub fn target(&self) -> Option<&TlsTarget> {
        match self {
            Self::Plain => None,
            Self::StartTls(target) | Self::Implicit(target) => Some(target),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Plain => "none",
            Self::StartTls(_) => "starttls",
            Self::Implicit(_) => "implicit",
        }
    }
}

/// Whom to trust and which name the certificate must carry.
pub struct TlsTarget {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
    /// False with `"insecure": true`: any certificate is accepted.
    pub verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<String, String> {
        Address::parse(text, 110).map(|a| format!("{}|{}|{a}", a.host, a.port))
    }

    #[test]
    fn addresses_in_every_spelling() {
        assert_eq!(
            parse("pop.example.net:995").unwrap(),
            "pop.example.net|995|pop.example.net:995"
        );
        assert_eq!(
            parse("pop.example.net").unwrap(),
            "pop.example.net|110|pop.example.net:110"
        );
        assert_eq!(
            parse("127.0.0.1:1110").unwrap(),
            "127.0.0.1|1110|127.0.0.1:1110"
        );
        assert_eq!(parse("127.0.0.1").unwrap(), "127.0.0.1|110|127.0.0.1:110");
        assert_eq!(parse("[::1]:995").unwrap(), "::1|995|[::1]:995");
        assert_eq!(parse("[::1]").unwrap(), "::1|110|[::1]:110");
        assert_eq!(parse("::1").unwrap(), "::1|110|[::1]:110");
    }

    #[test]
    fn bad_addresses_say_what_is_expected() {
        for text in [
            "",
            ":110",
            "host:port",
            "host:70000",
            "a b:110",
            "x:1:2",
            "[::1",
            "user@host",
        ] {
            assert!(parse(text).is_err(), "{text:?} accepted");
        }
        assert!(parse("host:x").unwrap_err().contains("port"));
    }

    #[test]
    fn strip_domain_cuts_at_the_last_at() {
        let endpoint = |strip_domain| Endpoint {
            address: Address::parse("h", 110).unwrap(),
            security: Security::Plain,
            strip_domain,
        };
        assert_eq!(endpoint(true).login_name("alice@example.org"), "alice");
        assert_eq!(endpoint(true).login_name("a@b@example.org"), "a@b");
        assert_eq!(endpoint(true).login_name("alice"), "alice");
        assert_eq!(
            endpoint(false).login_name("alice@example.org"),
            "alice@example.org"
        );
    }
}
