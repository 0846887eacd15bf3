//! The plugin's JSON configuration.

use password_schemes::{AuthCache, AuthCacheSettings};
pub use pop3_pg_pool::Tls;
use pop3_plugin_api::PopError;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A libpq-style URL or key=value string: `postgresql://pop3host@db.internal/mail`.
    pub url: String,
    /// Connections per pop3host instance: one per backend call running at once (a session
    /// holds none while idle).
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    #[serde(default)]
    pub tls: Tls,
    /// The CA certificates (PEM) that `"tls": "verify-full"` checks the server's with.
    pub ca_file: Option<PathBuf>,
    /// Apply `schema.sql` at startup when the database has no schema yet.
    #[serde(default)]
    pub apply_schema: bool,
    /// How long a maildrop lock outlives the last renewal by its instance: the time after
    /// which the maildrop of a killed instance can be opened elsewhere.
    #[serde(default = "default_lock_lease")]
    pub lock_lease_seconds: u32,
    /// How long a call waits for a free pooled connection before `[SYS/TEMP]`.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u32,
    /// The authentication cache (off when absent): successes remembered with the row's
    /// password field, so that an update of the row is the end of them.
    pub auth_cache: Option<AuthCacheSettings>,
}

fn default_pool_size() -> u32 {
    16
}

fn default_lock_lease() -> u32 {
    30
}

fn default_connect_timeout() -> u32 {
    5
}

pub const HELP: &str = r#"{"url": "postgresql://pop3host@127.0.0.1/mail", "pool_size": 16, "tls": "disable", "ca_file": null, "apply_schema": false, "lock_lease_seconds": 30, "connect_timeout_seconds": 5, "auth_cache": null}
"auth_cache" (object, default null: off), e.g. {"size": 10000, "ttl_seconds": 600} (the defaults of
the two keys; size 1 to 1000000, ttl_seconds 1 to 86400): remember successful password checks, as
Dovecot's auth_cache_size and auth_cache_ttl, so that a client polling every few minutes pays a
costly hash (SHA512-CRYPT, BLF-CRYPT, ARGON2) once per TTL. What is kept is an HMAC-SHA256, under a
random key drawn at each start, of the password with the user and the row's password field, never
the password: an update of the row's password is refused at once. Wrong passwords and unknown users
are never remembered (an unknown user still costs a SHA512-CRYPT check)."#;

impl Config {
    /// Parses the config text the host passes to `init` (`null` when none was given).
    pub fn parse(text: &str) -> Result<Self, PopError> {
        if text.trim() == "null" {
            return Err(PopError::permanent("postgres needs a config with url"));
        }
        let mut json = serde_json::Deserializer::from_str(text);
        let config: Self = serde_path_to_error::deserialize(&mut json).map_err(|err| {
            let path = err.path().to_string();
            PopError::permanent(if path == "." {
                format!("postgres config: {}", err.inner())
            } else {
                format!("postgres config key \"{path}\": {}", err.inner())
            })
        })?;
        if config.pool_size == 0 {
            return Err(PopError::permanent(
                "postgres config key \"pool_size\": must be at least 1",
            ));
        }
        if config.lock_lease_seconds < 3 {
            return Err(PopError::permanent(
                "postgres config key \"lock_lease_seconds\": must be at least 3",
            ));
        }
        Ok(config)
    }

    /// The cache `auth_cache` asks for, with its own random key; an error names the key.
    pub fn auth_cache(&self) -> Result<AuthCache, PopError> {
        AuthCache::new(self.auth_cache.as_ref()).map_err(|err| {
            PopError::permanent(format!("postgres config key \"auth_cache\": {err}"))
        })
    }

    pub fn lock_lease(&self) -> Duration {
        Duration::from_secs(self.lock_lease_seconds.into())
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_seconds.max(1).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key() {
        let err = Config::parse(r#"{"url": "x", "pool_size": "many"}"#).unwrap_err();
        assert!(err.message.contains("\"pool_size\""), "{}", err.message);
        let err = Config::parse(r#"{"url": "x", "tls": "verify-ca"}"#).unwrap_err();
        assert!(err.message.contains("\"tls\""), "{}", err.message);
        let err = Config::parse(r#"{"url": "x", "auth_cache": {"size": "big"}}"#).unwrap_err();
        assert!(
            err.message.contains("\"auth_cache.size\""),
            "{}",
            err.message
        );
        let config = Config::parse(r#"{"url": "x", "auth_cache": {"size": 0}}"#).unwrap();
        let err = config.auth_cache().unwrap_err();
        assert!(
            err.message.contains("\"auth_cache\": \"size\""),
            "{}",
            err.message
        );
        let err = Config::parse(r#"{"url": "x", "colour": 1}"#).unwrap_err();
        assert!(err.message.contains("colour"), "{}", err.message);
        assert!(Config::parse("null").is_err());
    }

    #[test]
    fn defaults() {
        let config = Config::parse(r#"{"url": "postgresql://localhost/mail"}"#).unwrap();
        assert_eq!(config.pool_size, 16);
        assert_eq!(config.tls, Tls::Disable);
        assert!(!config.apply_schema);
        assert_eq!(config.lock_lease(), Duration::from_secs(30));
        assert_eq!(config.auth_cache, None);
    }

    #[test]
    fn tls_modes_are_libpq_names() {
        let config = Config::parse(r#"{"url": "x", "tls": "verify-full", "ca_file": "ca.pem"}"#);
        assert_eq!(config.unwrap().tls, Tls::VerifyFull);
        let config = Config::parse(r#"{"url": "x", "tls": "require"}"#);
        assert_eq!(config.unwrap().tls, Tls::Require);
    }
}
