//! The authentication cache (Dovecot's `auth_cache_size`/`auth_cache_ttl`): a successful
//! verification is remembered for a while, so that a mail client polling every few minutes
//! pays a costly hash (SHA512-CRYPT, BLF-CRYPT, ARGON2) once per TTL rather than at each
//! login. Off unless configured.
//!
//! What is remembered is never the password: an entry is an HMAC-SHA256 tag, under a key
//! drawn at random for each cache (so per process, and per plugin instance), of the password
//! together with what it was verified against: the source (driver and instance), the login
//! and, for sources that hold one, the stored credential. A changed credential (a passwd-file
//! re-read, an updated database row) therefore gives another tag, and the old password is
//! refused at once, with no invalidation to get right or to race. Sources without a stored
//! credential (PAM, checkpassword, an LDAP bind) are remembered for the TTL only.
//!
//! Only successes go in: a wrong password, and an unknown user's dummy verification, are never
//! remembered, so they cost what they cost without the cache and the unknown-user timing rule
//! holds. The number of entries is bounded (quick_cache's S3-FIFO eviction; a well-kept
//! concurrent cache that shards its locks, so parallel logins do not queue on one mutex);
//! entries past their TTL are refused when found and eventually evicted.

use crate::schemes::Credential;
use hmac::{Hmac, KeyInit, Mac};
use quick_cache::sync::Cache;
use serde::Deserialize;
use sha2::Sha256;
use std::time::{Duration, Instant};

/// At most this many entries (each a 32-byte tag and an expiry time, and the map's overhead).
const MAX_SIZE: u32 = 1_000_000;
/// At most a day: a remembered password outlives its change only where the source holds no
/// credential to compare (PAM, checkpassword), so the TTL is the bound on that.
const MAX_TTL_SECONDS: u32 = 86_400;

/// The plugins' `"auth_cache": {"size": 10000, "ttl_seconds": 600}`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthCacheSettings {
    /// How many successful verifications are remembered at most.
    #[serde(default = "default_size")]
    pub size: u32,
    /// How long one is remembered.
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u32,
}

fn default_size() -> u32 {
    10_000
}

fn default_ttl() -> u32 {
    600
}

/// What a password is verified against: a success is found again only for the same source,
/// login and stored credential.
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    /// The verifying source, driver and instance (`passwd-file /etc/dovecot/users`).
    pub source: &'a str,
    /// The user as the source knows them.
    pub login: &'a str,
    /// The stored credential, for sources that hold one (`None`: PAM, checkpassword, bind).
    pub credential: Option<&'a Credential>,
}

/// What [`AuthCache::verify`] found. A source that paces unknown users by the time known
/// ones take must not count a [`Verdict::Remembered`] (it costs nothing to find), or a run of
/// them would let unknown users answer sooner than wrong passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A success found in the cache: no hash was computed.
    Remembered,
    /// The hash verified (and is now remembered).
    Verified,
    /// The password is wrong.
    Wrong,
}

impl Verdict {
    pub fn is_right(self) -> bool {
        self != Verdict::Wrong
    }
}

/// A remembered success: the tag of the password and its subject.
type Tag = [u8; 32];

/// The cache of one plugin instance; [`AuthCache::off`] remembers nothing.
pub struct AuthCache {
    remembered: Option<Remembered>,
}

struct Remembered {
    key: [u8; 32],
    ttl: Duration,
    size: u32,
    /// Tag to the moment the entry expires.
    entries: Cache<Tag, Instant>,
}

impl AuthCache {
    /// A cache that remembers nothing (the default).
    pub fn off() -> Self {
        Self { remembered: None }
    }

    /// The cache `settings` ask for, with a fresh random key; off for `None`. Errors name the
    /// setting (the caller adds the plugin's key).
    pub fn new(settings: Option<&AuthCacheSettings>) -> Result<Self, String> {
        let Some(settings) = settings else {
            return Ok(Self::off());
        };
        if !(1..=MAX_SIZE).contains(&settings.size) {
            return Err(format!("\"size\" must be 1 to {MAX_SIZE}"));
        }
        if !(1..=MAX_TTL_SECONDS).contains(&settings.ttl_seconds) {
            return Err(format!("\"ttl_seconds\" must be 1 to {MAX_TTL_SECONDS}"));
        }
        let mut key = [0; 32];
        getrandom::fill(&mut key).map_err(|err| format!("no random key: {err}"))?;
        Ok(Self {
            remembered: Some(Remembered {
                key,
                ttl: Duration::from_secs(settings.ttl_seconds.into()),
                size: settings.size,
                entries: Cache::new(settings.size as usize),
            }),
        })
    }

    /// A one-line summary for the log at init.
    pub fn describe(&self) -> String {
        match &self.remembered {
            None => "auth cache off".to_string(),
            Some(on) => format!(
                "auth cache of {} entries for {}s",
                on.size,
                on.ttl.as_secs()
            ),
        }
    }

    /// Whether `password` was verified for `subject` less than the TTL ago.
    pub fn remembers(&self, subject: Subject<'_>, password: &str) -> bool {
        self.remembers_at(subject, password, Instant::now())
    }

    /// Remembers that `password` was verified for `subject`: call it only after a success.
    pub fn remember(&self, subject: Subject<'_>, password: &str) {
        self.remember_at(subject, password, Instant::now());
    }

    /// Verifies `password` against the stored `credential` of `login` in `source`, or finds a
    /// recent success for the same credential. Never for an unknown user's dummy credential:
    /// verify that directly, so that it is never remembered.
    pub fn verify(
        &self,
        source: &str,
        login: &str,
        credential: &Credential,
        password: &str,
    ) -> Verdict {
        let subject = Subject {
            source,
            login,
            credential: Some(credential),
        };
        if self.remembers(subject, password) {
            return Verdict::Remembered;
        }
        if !credential.verify(password) {
            return Verdict::Wrong;
        }
        self.remember(subject, password);
        Verdict::Verified
    }

    fn remembers_at(&self, subject: Subject<'_>, password: &str, now: Instant) -> bool {
        let Some(on) = &self.remembered else {
            return false;
        };
        let tag = on.tag(subject, password);
        match on.entries.get(&tag) {
            Some(expires) if now < expires => true,
            Some(_) => {
                on.entries.remove(&tag);
                false
            }
            None => false,
        }
    }

    fn remember_at(&self, subject: Subject<'_>, password: &str, now: Instant) {
        if let Some(on) = &self.remembered {
            on.entries.insert(on.tag(subject, password), now + on.ttl);
        }
    }
}

impl std::fmt::Debug for AuthCache {
    /// The settings, never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Remembered {
    /// HMAC-SHA256 of every field, each preceded by its length so that no two different
    /// subjects and passwords give the same input.
    fn tag(&self, subject: Subject<'_>, password: &str) -> Tag {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        let stored = subject.credential.map(Credential::stored_parts);
        let (kind, first, second): (&[u8], &[u8], &[u8]) = match &stored {
            None => (b"none", b"", b""),
            Some((kind, first, second)) => (kind.as_bytes(), first, second),
        };
        for field in [
            subject.source.as_bytes(),
            subject.login.as_bytes(),
            kind,
            first,
            second,
            password.as_bytes(),
        ] {
            mac.update(&(field.len() as u64).to_le_bytes());
            mac.update(field);
        }
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA512: &str = "{SHA512-CRYPT}$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";

    fn cache(size: u32, ttl_seconds: u32) -> AuthCache {
        AuthCache::new(Some(&AuthCacheSettings { size, ttl_seconds })).unwrap()
    }

    fn subject<'a>(login: &'a str, credential: &'a Credential) -> Subject<'a> {
        Subject {
            source: "test",
            login,
            credential: Some(credential),
        }
    }

    #[test]
    fn a_success_is_remembered_until_the_ttl_passes() {
        let cache = cache(10, 60);
        let credential = Credential::parse(SHA512).unwrap();
        let ann = subject("ann", &credential);
        let now = Instant::now();
        assert!(!cache.remembers_at(ann, "password", now));
        cache.remember_at(ann, "password", now);
        assert!(cache.remembers_at(ann, "password", now + Duration::from_secs(59)));
        assert!(!cache.remembers_at(ann, "password", now + Duration::from_secs(60)));
        // An expired entry is gone, not only refused.
        assert!(!cache.remembers_at(ann, "password", now));
    }

    #[test]
    fn a_wrong_password_is_never_remembered() {
        let cache = cache(10, 60);
        let credential = Credential::parse(SHA512).unwrap();
        let verify = |password| cache.verify("test", "ann", &credential, password);
        assert_eq!(verify("wrong"), Verdict::Wrong);
        assert!(!cache.remembers(subject("ann", &credential), "wrong"));
        assert_eq!(verify("password"), Verdict::Verified);
        assert_eq!(verify("password"), Verdict::Remembered);
        assert_eq!(verify("wrong"), Verdict::Wrong);
    }

    #[test]
    fn a_changed_credential_or_another_login_or_source_misses() {
        let cache = cache(10, 60);
        let old = Credential::parse("{PLAIN}password").unwrap();
        let new = Credential::parse("{PLAIN}other").unwrap();
        assert!(cache.verify("test", "ann", &old, "password").is_right());
        assert!(!cache.remembers(subject("ann", &new), "password"));
        assert_eq!(
            cache.verify("test", "ann", &new, "password"),
            Verdict::Wrong
        );
        assert!(!cache.remembers(subject("bob", &old), "password"));
        let elsewhere = Subject {
            source: "other",
            ..subject("ann", &old)
        };
        assert!(!cache.remembers(elsewhere, "password"));
        let without = Subject {
            credential: None,
            ..subject("ann", &old)
        };
        assert!(!cache.remembers(without, "password"));
    }

    #[test]
    fn sources_without_a_credential_are_remembered_by_login() {
        let cache = cache(10, 60);
        let pam = |login| Subject {
            source: "pam",
            login,
            credential: None,
        };
        cache.remember(pam("ann"), "secret");
        assert!(cache.remembers(pam("ann"), "secret"));
        assert!(!cache.remembers(pam("ann"), "secret2"));
        assert!(!cache.remembers(pam("bob"), "secret"));
    }

    #[test]
    fn the_size_is_bounded() {
        let cache = cache(100, 60);
        let credential = Credential::Disabled;
        let logins: Vec<String> = (0..10_000).map(|i| format!("user{i}")).collect();
        for login in &logins {
            cache.remember(subject(login, &credential), "password");
        }
        let on = cache.remembered.as_ref().unwrap();
        assert!(on.entries.len() <= 100, "{} entries", on.entries.len());
        let kept = logins
            .iter()
            .filter(|login| cache.remembers(subject(login, &credential), "password"))
            .count();
        assert!((1..=100).contains(&kept), "{kept} remembered");
    }

    #[test]
    fn each_cache_has_its_own_key() {
        let (one, two) = (cache(10, 60), cache(10, 60));
        let credential = Credential::Disabled;
        let ann = subject("ann", &credential);
        one.remember(ann, "password");
        assert!(!two.remembers(ann, "password"));
        let tag = |cache: &AuthCache| cache.remembered.as_ref().unwrap().tag(ann, "password");
        assert_ne!(tag(&one), tag(&two));
        assert_eq!(tag(&one), tag(&one), "one cache, one tag");
    }

    #[test]
    fn off_remembers_nothing_and_bad_settings_are_refused() {
        let off = AuthCache::new(None).unwrap();
        let credential = Credential::parse("{PLAIN}password").unwrap();
        assert_eq!(
            off.verify("test", "ann", &credential, "password"),
            Verdict::Verified
        );
        assert!(!off.remembers(subject("ann", &credential), "password"));
        assert_eq!(off.describe(), "auth cache off");
        let err = |size, ttl_seconds| {
            AuthCache::new(Some(&AuthCacheSettings { size, ttl_seconds }))
                .err()
                .unwrap()
        };
        assert!(err(0, 60).contains("\"size\""));
        assert!(err(10, 0).contains("\"ttl_seconds\""));
        assert!(err(10, MAX_TTL_SECONDS + 1).contains("\"ttl_seconds\""));
    }
}
