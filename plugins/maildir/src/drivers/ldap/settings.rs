//! The ldap driver's keys: one set for the passdb and the userdb (as Dovecot's
//! dovecot-ldap.conf.ext serves both), each refusing the keys it does not use, so that a key
//! that does nothing is a startup error rather than a silent surprise.

use super::pool::{Pool, Server};
use super::template::{Syntax, Template};
use pop3_plugin_api::PopError;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `{"driver": "ldap", "url": "ldaps://ldap.example.org", ...}` (see the HELP text).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    pub ca_file: Option<PathBuf>,
    pub bind_dn: Option<String>,
    pub bind_password: Option<Secret>,
    pub user_dn: Option<String>,
    pub base: Option<String>,
    pub filter: Option<String>,
    pub password_attr: Option<String>,
    pub home_attr: Option<String>,
    pub uid_attr: Option<String>,
    pub gid_attr: Option<String>,
    pub maildir_attr: Option<String>,
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    #[serde(default = "default_timeout")]
    #[serde(deserialize_with = "crate::drivers::timeout::capped")]
    pub timeout_seconds: u32,
}

/// The service password: read from the config, never shown (not even in a Debug dump of the
/// config).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

fn default_pool_size() -> u32 {
    4
}

fn default_timeout() -> u32 {
    5
}

/// Dovecot's default user filter without its objectClass test, which sites vary.
const DEFAULT_FILTER: &str = "(uid=%u)";

/// How the passdb checks a password (Dovecot: auth_bind with auth_bind_userdn, auth_bind,
/// or pass_attrs).
#[derive(Debug)]
pub enum PassMode {
    /// Bind as the DN the template makes of the login.
    BindDn(Template),
    /// Find the user's entry, then bind as its DN.
    SearchBind(Search),
    /// Read the `{SCHEME}` hash in `attr` of the user's entry and verify it here.
    Hash { search: Search, attr: String },
}

/// Where a user's entry is found.
#[derive(Debug)]
pub struct Search {
    pub base: String,
    pub filter: Template,
}

/// The userdb's attributes.
#[derive(Debug)]
pub struct UserAttrs {
    pub home: String,
    pub uid: String,
    pub gid: String,
    pub maildir: Option<String>,
}

/// Errors under the config key of the passdb or the userdb.
struct Keyed<'a>(&'a str);

impl Keyed<'_> {
    fn error(&self, why: impl std::fmt::Display) -> PopError {
        PopError::permanent(format!("maildir config key \"{}\": {why}", self.0))
    }

    /// Refuses the keys (given as name and whether set) that this source does not use.
    fn unused(&self, keys: &[(&str, bool)], why: &str) -> Result<(), PopError> {
        match keys.iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(self.error(format!("\"{name}\" is not used {why}"))),
            None => Ok(()),
        }
    }
}

impl Settings {
    /// The passdb's connections and mode.
    pub fn passdb(&self) -> Result<(Pool, PassMode), PopError> {
        let keyed = Keyed("passdb");
        keyed.unused(
            &[
                ("home_attr", self.home_attr.is_some()),
                ("uid_attr", self.uid_attr.is_some()),
                ("gid_attr", self.gid_attr.is_some()),
                ("maildir_attr", self.maildir_attr.is_some()),
            ],
            "by the passdb (it belongs in the userdb)",
        )?;
        let mode = match (&self.user_dn, &self.password_attr) {
            (Some(user_dn), _) => {
                keyed.unused(
                    &[
                        ("base", self.base.is_some()),
                        ("filter", self.filter.is_some()),
                        ("password_attr", self.password_attr.is_some()),
                    ],
                    "with \"user_dn\" (the login's DN is made, not searched)",
                )?;
                let template = Template::parse(user_dn, Syntax::Dn)
                    .map_err(|why| keyed.error(format!("\"user_dn\" {why}")))?;
                PassMode::BindDn(template)
            }
            (None, None) => PassMode::SearchBind(self.search(&keyed)?),
            (None, Some(attr)) => PassMode::Hash {
                search: self.search(&keyed)?,
                attr: attribute(&keyed, "password_attr", attr)?,
            },
        };
        Ok((self.pool(&keyed)?, mode))
    }

    /// The userdb's connections, search and attributes.
    pub fn userdb(&self) -> Result<(Pool, Search, UserAttrs), PopError> {
        let keyed = Keyed("userdb");
        keyed.unused(
            &[
                ("user_dn", self.user_dn.is_some()),
                ("password_attr", self.password_attr.is_some()),
            ],
            "by the userdb (it belongs in the passdb)",
        )?;
        let named = |key: &str, value: &Option<String>, default: &str| {
            attribute(&keyed, key, value.as_deref().unwrap_or(default))
        };
        let attrs = UserAttrs {
            home: named("home_attr", &self.home_attr, "homeDirectory")?,
            uid: named("uid_attr", &self.uid_attr, "uidNumber")?,
            gid: named("gid_attr", &self.gid_attr, "gidNumber")?,
            maildir: match &self.maildir_attr {
                Some(name) => Some(attribute(&keyed, "maildir_attr", name)?),
                None => None,
            },
        };
        Ok((self.pool(&keyed)?, self.search(&keyed)?, attrs))
    }

    fn search(&self, keyed: &Keyed) -> Result<Search, PopError> {
        let base = match &self.base {
            Some(base) if !base.is_empty() => base.clone(),
            _ => return Err(keyed.error("\"base\" is required (or \"user_dn\" for a passdb)")),
        };
        let filter = self.filter.as_deref().unwrap_or(DEFAULT_FILTER);
        let filter = Template::parse(filter, Syntax::Filter)
            .map_err(|why| keyed.error(format!("\"filter\" {why}")))?;
        Ok(Search { base, filter })
    }

    fn pool(&self, keyed: &Keyed) -> Result<Pool, PopError> {
        let url = url::Url::parse(&self.url)
            .map_err(|err| keyed.error(format!("\"url\" {:?}: {err}", self.url)))?;
        let tls = match (url.scheme(), self.starttls) {
            ("ldaps", true) => {
                return Err(keyed.error("\"starttls\" is for ldap:// URLs; ldaps:// is TLS already"))
            }
            ("ldaps", false) | ("ldap", true) => true,
            ("ldap", false) => false,
            (scheme, _) => {
                return Err(keyed.error(format!(
                    "\"url\" {:?}: the scheme must be ldap or ldaps, not {scheme}",
                    self.url
                )))
            }
        };
        if url.host_str().unwrap_or("").is_empty() || !matches!(url.path(), "" | "/") {
            return Err(keyed.error(format!(
                "\"url\" {:?} must be ldap[s]://host[:port] (no path: the DNs are other keys)",
                self.url
            )));
        }
        let tls = match (tls, &self.ca_file) {
            (true, ca_file) => Some(
                pop3_client_tls::client_config(ca_file.as_deref(), false)
                    .map_err(|err| keyed.error(format!("\"ca_file\": {err}")))?,
            ),
            (false, Some(_)) => {
                return Err(keyed.error("\"ca_file\" is only used with ldaps:// or \"starttls\""))
            }
            (false, None) => None,
        };
        let service = match (&self.bind_dn, &self.bind_password) {
            (Some(dn), Some(Secret(password))) if !dn.is_empty() && !password.is_empty() => {
                Some((dn.clone(), password.clone()))
            }
            (None, None) => None,
            // A DN with an empty password would be an unauthenticated bind, which succeeds
            // with any DN and grants nothing: a mistake to refuse rather than run with.
            _ => {
                return Err(
                    keyed.error("\"bind_dn\" and \"bind_password\" go together, neither empty")
                )
            }
        };
        if self.pool_size == 0 || self.timeout_seconds == 0 {
            return Err(keyed.error("\"pool_size\" and \"timeout_seconds\" must be at least 1"));
        }
        Ok(Pool::new(Server {
            url: self.url.clone(),
            tls,
            starttls: self.starttls,
            service,
            timeout: Duration::from_secs(self.timeout_seconds.into()),
            pool_size: self.pool_size,
        }))
    }
}

/// An attribute name as LDAP spells them (a letter, then letters, digits and hyphens) or an
/// OID, so that a typo shows at startup.
fn attribute(keyed: &Keyed, key: &str, name: &str) -> Result<String, PopError> {
    let descriptor = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !name.is_empty()
        && name
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if descriptor || oid {
        Ok(name.to_string())
    } else {
        Err(keyed.error(format!("\"{key}\" {name:?} is not an attribute name")))
    }
}
