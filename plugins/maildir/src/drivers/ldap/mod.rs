//! The `ldap` driver: users in a directory server (OpenLDAP, 389 DS, Active Directory), as
//! Dovecot's ldap passdb and userdb read them, through ldap3 (its synchronous API: plugin
//! calls block by contract and run on the host's blocking pool).
//!
//! The passdb checks a password in one of Dovecot's three ways: a bind as the DN a template
//! makes of the login (auth_bind_userdn), a search for the user's entry then a bind as its DN
//! (auth_bind), or a search that reads a `{SCHEME}` hash attribute, verified here with the
//! shared password schemes (pass_attrs). The login is escaped wherever it lands (see
//! [`template`]), and an empty password is refused before any bind: LDAP takes a bind with
//! an empty password as an "unauthenticated bind", which succeeds for any DN.
//!
//! Timing: a directory answers "no such user" sooner than "wrong password" (a search that
//! finds nothing needs no bind and no hash check), so every `[AUTH]` refusal, an unknown
//! user or a wrong password alike, waits to the same target ([`Pace`]): the slowest recent
//! check of a known user, at least [`super::pace::FLOOR`], at most `timeout_seconds`. A bind
//! to a templated DN cannot tell the two apart (the server answers invalidCredentials for
//! both), so its refusals are not counted among known users' checks. An entry found without
//! a usable hash (the attribute missing or unreadable to the service, or a scheme that is
//! not known) is an unknown user, logged as a warning: the login is refused as `[AUTH]`
//! after the same wait, never sooner. A hash is checked after the connection is given back
//! to the pool, so that slow schemes do not hold the pool's connections. A server that is
//! down, slow past `timeout_seconds`, or answering with any other error (a search that
//! brings more than one entry or too many bytes included, see [`pool`]) is
//! [`PopError::temporary`], never `[AUTH]`.
//!
//! The authentication cache: a hash read from the directory is verified through it with the
//! hash as part of what is remembered, so a changed hash attribute is a miss at the next
//! login (the search is made at every login; only the hash check is skipped). A remembered
//! login is not counted among the known users' checks that set the target, or quick hits
//! would lower it below a wrong password's cost. The bind modes hold no hash: they are
//! remembered by login, for the TTL only ([`Remembered`]).

mod pool;
mod settings;
mod template;

pub use settings::Settings;

use super::pace::Pace;
use super::remembered::Remembered;
use super::{PassDb, UserDb, UserFields};
use ldap3::SearchEntry;
use password_schemes::{AuthCache, Credential, Verdict};
use pool::{Lease, Pool};
use pop3_plugin_api::{warn, Connection, PopError};
use settings::{PassMode, Search, UserAttrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The attribute list that asks for no attributes (RFC 4511): the DN is all a bind needs.
const NO_ATTRIBUTES: &str = "1.1";

/// What the directory said of a login, before any hash check.
enum Found {
    /// A bind settled it.
    Answer(Answer),
    /// The entry's DN and its stored hash, checked once the connection is given back.
    Hash { dn: String, hash: String },
}

/// What the directory said of a login.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Accepted,
    /// Accepted by the authentication cache, without the hash check.
    Remembered,
    /// A known user with a wrong password.
    WrongPassword,
    /// No such user, or a refusal that cannot tell (a bind to a templated DN).
    Unknown,
}

pub struct LdapPassDb {
    pool: Pool,
    mode: PassMode,
    pace: Pace,
    cache: Arc<AuthCache>,
}

impl LdapPassDb {
    pub fn open(settings: &Settings) -> Result<Self, PopError> {
        let (pool, mode) = settings.passdb()?;
        Ok(Self {
            pace: Pace::new(pool.timeout()),
            pool,
            mode,
            cache: Arc::new(AuthCache::off()),
        })
    }

    /// This passdb verifying through `cache`: hashes with the hash, binds by login.
    pub fn remembering(self, cache: Arc<AuthCache>) -> Arc<dyn PassDb> {
        match &self.mode {
            PassMode::Hash { .. } => Arc::new(Self { cache, ..self }),
            PassMode::BindDn(_) | PassMode::SearchBind(_) => {
                let source = format!("LDAP {}", self.pool.describe());
                Arc::new(Remembered::new(Arc::new(self), source, cache))
            }
        }
    }

    /// What the directory says of `login` and `password`, asked on the leased connection.
    fn check(&self, lease: &mut Lease, login: &str, password: &str) -> Result<Found, String> {
        let answer = match &self.mode {
            PassMode::BindDn(template) => match lease.bind(&template.expand(login), password)? {
                true => Answer::Accepted,
                false => Answer::Unknown,
            },
            PassMode::SearchBind(search) => match find(lease, search, login, &[NO_ATTRIBUTES])? {
                Some(entry) => match lease.bind(&entry.dn, password)? {
                    true => Answer::Accepted,
                    false => Answer::WrongPassword,
                },
                None => Answer::Unknown,
            },
            PassMode::Hash { search, attr } => {
                let Some(entry) = find(lease, search, login, &[attr])? else {
                    return Ok(Found::Answer(Answer::Unknown));
                };
                match first_value(&entry, attr) {
                    Some(hash) => {
                        let hash = hash.to_string();
                        return Ok(Found::Hash { dn: entry.dn, hash });
                    }
                    None => {
                        warn!(
                            "LDAP: {} has no {attr} the service can read: login {login:?} refused",
                            entry.dn
                        );
                        Answer::Unknown
                    }
                }
            }
        };
        Ok(Found::Answer(answer))
    }
}

/// Checks `password` against the `{SCHEME}` hash that the entry `dn` holds, through `cache`
/// (remembered with the hash, so a changed hash is a miss): the one place the ldap passdb
/// verifies a hash. Errors name the scheme, never the hash.
fn verify_hash(cache: &AuthCache, dn: &str, hash: &str, password: &str) -> Result<Answer, String> {
    let credential = Credential::parse(hash)?;
    Ok(match cache.verify("ldap", dn, &credential, password) {
        Verdict::Remembered => Answer::Remembered,
        Verdict::Verified => Answer::Accepted,
        Verdict::Wrong => Answer::WrongPassword,
    })
}

/// The entry of `login` under the search's base.
fn find(
    lease: &mut Lease,
    search: &Search,
    login: &str,
    attrs: &[&str],
) -> Result<Option<SearchEntry>, String> {
    lease.find(&search.base, &search.filter.expand(login), attrs)
}

/// The first value of `attr` (attribute names are case-insensitive; the server may spell
/// them otherwise than the config).
fn first_value<'a>(entry: &'a SearchEntry, attr: &str) -> Option<&'a str> {
    entry
        .attrs
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(attr))
        .and_then(|(_, values)| values.first())
        .map(String::as_str)
}

impl PassDb for LdapPassDb {
    fn verify(&self, login: &str, password: &str, _conn: &Connection) -> Result<String, PopError> {
        if password.is_empty() {
            return Err(PopError::auth(format!(
                "login {login:?}: an empty password is never sent to LDAP"
            )));
        }
        let started = Instant::now();
        let temporary = |err: String| PopError::temporary(format!("login {login:?}: LDAP {err}"));
        let mut lease = self
            .pool
            .lease(started + self.pool.timeout())
            .map_err(temporary)?;
        let found = self.check(&mut lease, login, password).map_err(temporary)?;
        drop(lease);
        let answer = match found {
            Found::Answer(answer) => answer,
            Found::Hash { dn, hash } => verify_hash(&self.cache, &dn, &hash, password)
                .unwrap_or_else(|why| {
                    warn!("LDAP: login {login:?}: the hash of {dn} is unusable: {why}");
                    Answer::Unknown
                }),
        };
        match answer {
            Answer::Remembered => Ok(login.to_string()),
            Answer::Accepted => {
                self.pace.known(started);
                Ok(login.to_string())
            }
            Answer::WrongPassword => {
                self.pace.known(started);
                self.pace.refuse(started);
                Err(PopError::auth(format!(
                    "LDAP: wrong password for {login:?}"
                )))
            }
            Answer::Unknown => {
                self.pace.refuse(started);
                Err(PopError::auth(format!(
                    "LDAP: unknown user {login:?} or wrong password"
                )))
            }
        }
    }

    fn describe(&self) -> String {
        let how = match &self.mode {
            PassMode::BindDn(_) => "bind as the user's DN".to_string(),
            PassMode::SearchBind(search) => format!("search under {}, then bind", search.base),
            PassMode::Hash { search, attr } => {
                format!("{attr} of the entry under {}", search.base)
            }
        };
        format!("LDAP {}: {how}", self.pool.describe())
    }
}

pub struct LdapUserDb {
    pool: Pool,
    search: Search,
    attrs: UserAttrs,
}

impl LdapUserDb {
    pub fn open(settings: &Settings) -> Result<Self, PopError> {
        let (pool, search, attrs) = settings.userdb()?;
        Ok(Self {
            pool,
            search,
            attrs,
        })
    }

    /// The fields of `entry`: a uid and a gid go together, and are numbers.
    fn fields(&self, user: &str, entry: &SearchEntry) -> Result<UserFields, PopError> {
        let number = |attr: &str| {
            first_value(entry, attr)
                .map(|value| {
                    value.trim().parse::<u32>().map_err(|_| {
                        PopError::permanent(format!(
                            "user {user:?}: the {attr} of {} is not a number: {value:?}",
                            entry.dn
                        ))
                    })
                })
                .transpose()
        };
        let ids = match (number(&self.attrs.uid)?, number(&self.attrs.gid)?) {
            (Some(uid), Some(gid)) => Some((uid, gid)),
            (None, None) => None,
            _ => {
                return Err(PopError::permanent(format!(
                    "user {user:?}: {} has only one of {} and {}",
                    entry.dn, self.attrs.uid, self.attrs.gid
                )))
            }
        };
        let maildir = self.attrs.maildir.as_deref();
        Ok(UserFields {
            name: user.to_string(),
            home: first_value(entry, &self.attrs.home)
                .unwrap_or_default()
                .to_string(),
            ids,
            maildir: maildir
                .and_then(|attr| first_value(entry, attr))
                .map(PathBuf::from),
        })
    }
}

impl UserDb for LdapUserDb {
    fn lookup(&self, user: &str) -> Result<UserFields, PopError> {
        let temporary = |err: String| PopError::temporary(format!("user {user:?}: LDAP {err}"));
        let mut lease = self
            .pool
            .lease(Instant::now() + self.pool.timeout())
            .map_err(temporary)?;
        let attrs = &self.attrs;
        let mut wanted = vec![attrs.home.as_str(), &attrs.uid, &attrs.gid];
        wanted.extend(attrs.maildir.as_deref());
        match find(&mut lease, &self.search, user, &wanted).map_err(temporary)? {
            Some(entry) => self.fields(user, &entry),
            None => Err(PopError::auth(format!(
                "user {user:?} is not in the LDAP userdb under {}",
                self.search.base
            ))),
        }
    }

    fn describe(&self) -> String {
        format!(
            "LDAP {}: entries under {}",
            self.pool.describe(),
            self.search.base
        )
    }
}

#[cfg(test)]
mod tests;
