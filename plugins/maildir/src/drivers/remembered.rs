//! The authentication cache for a passdb that holds no stored credential to compare (PAM,
//! checkpassword, LDAP binds): a success is remembered by source, login and password for the
//! TTL, which is then the bound on how long a password changed at the source, or an account
//! disabled or deleted there, still logs in here. A refusal, an unknown user and a failure of
//! the source are never remembered, and a hit never reaches the inner passdb, so its pacing
//! sees only real checks.
//! Passdbs with a stored credential (the passwd-file, an LDAP hash attribute) use the cache
//! themselves, with the credential.

use super::PassDb;
use password_schemes::{AuthCache, Subject};
use pop3_plugin_api::{Connection, PopError};
use std::sync::Arc;

/// `inner` through `cache`; `inner` must accept a login under its own name (a hit answers
/// with the login as given).
pub struct Remembered {
    inner: Arc<dyn PassDb>,
    /// The driver and instance, e.g. `PAM service pop3host`.
    source: String,
    cache: Arc<AuthCache>,
}

impl Remembered {
    pub fn new(inner: Arc<dyn PassDb>, source: String, cache: Arc<AuthCache>) -> Self {
        Self {
            inner,
            source,
            cache,
        }
    }
}

impl PassDb for Remembered {
    fn verify(&self, login: &str, password: &str, conn: &Connection) -> Result<String, PopError> {
        let subject = Subject {
            source: &self.source,
            login,
            credential: None,
        };
        if self.cache.remembers(subject, password) {
            return Ok(login.to_string());
        }
        let user = self.inner.verify(login, password, conn)?;
        self.cache.remember(subject, password);
        Ok(user)
    }

    fn supports_apop(&self) -> bool {
        self.inner.supports_apop()
    }

    fn apop(&self, login: &str, digest: &str, timestamp: &str) -> Result<String, PopError> {
        self.inner.apop(login, digest, timestamp)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use password_schemes::AuthCacheSettings;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Accepts "right" for anyone, refuses the rest, and counts its checks.
    #[derive(Default)]
    struct Counting(AtomicU32);

    impl PassDb for Counting {
        fn verify(&self, login: &str, password: &str, _: &Connection) -> Result<String, PopError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            match password {
                "right" => Ok(login.to_string()),
                _ => Err(PopError::auth("refused")),
            }
        }
        fn describe(&self) -> String {
            "counting".into()
        }
    }

    #[test]
    fn successes_are_remembered_refusals_never() {
        let inner = Arc::new(Counting::default());
        let settings = AuthCacheSettings {
            size: 10,
            ttl_seconds: 60,
        };
        let cache = Arc::new(AuthCache::new(Some(&settings)).unwrap());
        let passdb = Remembered::new(inner.clone(), "test".into(), cache);
        let conn = Connection {
            id: 1,
            peer: "127.0.0.1:1".parse().unwrap(),
            local: "127.0.0.1:110".parse().unwrap(),
            tls: false,
        };
        let checks = || inner.0.load(Ordering::Relaxed);
        for _ in 0..2 {
            assert!(passdb.verify("ann", "wrong", &conn).is_err());
        }
        assert_eq!(checks(), 2, "each refusal asks the source");
        for _ in 0..3 {
            assert_eq!(passdb.verify("ann", "right", &conn).unwrap(), "ann");
        }
        assert_eq!(checks(), 3, "one success asks the source once");
        assert!(passdb.verify("ann", "wrong", &conn).is_err());
        assert!(passdb.verify("bob", "right", &conn).is_ok());
        assert_eq!(
            checks(),
            5,
            "another password or login is not the remembered one"
        );
    }
}
