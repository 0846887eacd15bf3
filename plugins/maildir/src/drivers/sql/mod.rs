//! The `sql` driver, passdb and userdb: users in PostgreSQL or SQLite, found by queries the
//! operator writes, as in Dovecot's dovecot-sql.conf.ext (`password_query`, `user_query`).
//!
//! - **No injection.** The login is the query's one parameter (`$1` for PostgreSQL, `?1` for
//!   SQLite), bound as a value, never put into the query's text.
//! - **Checked at startup.** Each query is prepared at `init` (PostgreSQL on a first
//!   connection, SQLite on the file), with its parameter and columns checked (see
//!   [`columns`]), so that a typo stops the server naming the key.
//! - **Columns by name**: the passdb reads `password` (a `{SCHEME}hash` field as in the
//!   passwd-file, verified by the shared `password_schemes` crate; NULL, an empty or an
//!   unreadable field, or no row: the user cannot log in) and optionally `user` (the name
//!   the userdb and the maildir template get); the userdb reads `home`, `uid` and `gid`
//!   (together) and `maildir`, each optional.
//! - **Deadlines.** A lookup answers within `timeout_seconds` or is `[SYS/TEMP]`, as is a
//!   database that is down; see [`postgresql`] and [`sqlite`] for how each is bounded.
//! - **Timing.** No row (or no usable password) means no hash to verify, so the answer would
//!   come sooner than a wrong password's: every `[AUTH]` refusal, unknown user and wrong
//!   password alike, is held back by [`Pace`] until it has taken as long as the slowest of
//!   the last 32 password checks of known users (query and verification), at least
//!   [`super::pace::FLOOR`] and at most `timeout_seconds`, as the PAM and LDAP drivers do. A dummy
//!   verification alone would not do: it cannot know the cost of the schemes in the table,
//!   nor hide a "no row" that the database answers faster. An APOP check verifies no hash:
//!   its time is not recorded, and its refusals wait by the same rule.
//! - **One check.** Every login, password or APOP, goes through [`SqlPassDb::check`];
//!   passwords through the authentication cache, remembered with the row's password field,
//!   so that an updated row is a miss. A remembered success is not counted among the known
//!   users' times that set the target (quick hits would lower it below a wrong password's
//!   cost).

mod columns;
mod postgresql;
mod sqlite;

use super::pace::Pace;
use super::{PassDb, UserDb, UserFields};
use columns::{Purpose, Row};
use password_schemes::{AuthCache, Credential, Verdict};
use pop3_pg_pool::Tls;
use pop3_plugin_api::{apop_matches, warn, Connection, PopError};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `{"driver": "sql", "url": ..., "password_query" or "user_query": ..., "tls": "disable",
/// "ca_file": null, "timeout_seconds": 5, "pool_size": 4}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `postgresql://user@host/db` (or `postgres://`), or `sqlite:///path/to/users.db`.
    pub url: String,
    pub password_query: Option<String>,
    pub user_query: Option<String>,
    #[serde(default)]
    pub tls: Tls,
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    #[serde(deserialize_with = "crate::drivers::timeout::capped")]
    pub timeout_seconds: u32,
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

fn default_timeout() -> u32 {
    5
}

fn default_pool_size() -> u32 {
    4
}

/// The URL scheme of SQLite databases: `sqlite:///var/lib/mail/users.db`.
const SQLITE_SCHEME: &str = "sqlite://";

/// A database that answers one prepared query for a login.
trait Lookup: Send + Sync {
    /// The query's first row for `login` (`None`: no row), or why there is no answer by
    /// `deadline` (the database is down, slow, or returned more than one row).
    fn row(&self, login: &str, deadline: Instant) -> Result<Option<Row>, String>;

    /// Where the database is, for the log (no password).
    fn describe(&self) -> String;
}

/// One query on one database, opened and checked.
struct Query {
    lookup: Box<dyn Lookup>,
    timeout: Duration,
}

impl Query {
    /// Opens the database of `settings` and prepares `purpose`'s query; errors name the
    /// config key (`key` is "passdb" or "userdb").
    fn open(settings: &Settings, key: &str, purpose: Purpose) -> Result<Self, PopError> {
        let bad = |why: String| PopError::permanent(format!("maildir config key \"{key}\": {why}"));
        // The query this side reads, and the other side's, which is a mistake here.
        let (query, wanted, other, other_side) = match purpose {
            Purpose::PassDb => (
                &settings.password_query,
                "password_query",
                &settings.user_query,
                "\"user_query\" belongs in the userdb",
            ),
            Purpose::UserDb => (
                &settings.user_query,
                "user_query",
                &settings.password_query,
                "\"password_query\" belongs in the passdb",
            ),
        };
        let Some(query) = query else {
            return Err(bad(format!("the sql {key} needs \"{wanted}\"")));
        };
        if other.is_some() {
            return Err(bad(other_side.to_string()));
        }
        if settings.timeout_seconds == 0 || settings.pool_size == 0 {
            return Err(bad(
                "\"timeout_seconds\" and \"pool_size\" must be at least 1".to_string(),
            ));
        }
        let timeout = Duration::from_secs(settings.timeout_seconds.into());
        let lookup: Box<dyn Lookup> = if let Some(path) = settings.url.strip_prefix(SQLITE_SCHEME) {
            if settings.tls != Tls::Disable || settings.ca_file.is_some() {
                return Err(bad(
                    "\"tls\" and \"ca_file\" are for PostgreSQL, not SQLite".to_string(),
                ));
            }
            let open =
                sqlite::Sqlite::open(path.as_ref(), query, wanted, purpose, settings.pool_size);
            Box::new(open.map_err(bad)?)
        } else if ["postgresql://", "postgres://"]
            .iter()
            .any(|scheme| settings.url.starts_with(scheme))
        {
            let open = postgresql::Postgresql::open(settings, query, wanted, purpose, timeout);
            Box::new(open.map_err(bad)?)
        } else {
            return Err(bad(
                "\"url\" must start with postgresql:// or sqlite:// (sqlite:///path/to/users.db)"
                    .to_string(),
            ));
        };
        Ok(Self { lookup, timeout })
    }

    /// The row for `login`, or `[SYS/TEMP]` (logged) when the database gives no answer.
    fn row(&self, login: &str, deadline: Instant) -> Result<Option<Row>, PopError> {
        self.lookup.row(login, deadline).map_err(|err| {
            warn!("sql {}: login {login:?}: {err}", self.lookup.describe());
            PopError::temporary("the user database is unavailable, try again later")
        })
    }

    fn describe(&self) -> String {
        format!(
            "{} (timeout {}s)",
            self.lookup.describe(),
            self.timeout.as_secs()
        )
    }
}

/// What a client proves it knows.
enum Proof<'a> {
    Password(&'a str),
    Apop { digest: &'a str, timestamp: &'a str },
}

impl Proof<'_> {
    /// Checks the proof against `login`'s stored `credential`; passwords through `cache`
    /// (remembered with the credential, so a changed row is a miss), APOP never.
    fn check(
        &self,
        cache: &AuthCache,
        source: &str,
        login: &str,
        credential: &Credential,
    ) -> Verdict {
        match self {
            Self::Password(password) => cache.verify(source, login, credential, password),
            Self::Apop { digest, timestamp } => {
                match apop_matches(digest, timestamp, credential.plaintext()) {
                    true => Verdict::Verified,
                    false => Verdict::Wrong,
                }
            }
        }
    }
}

/// The longest login looked up: longer ones are no user (and cost what an unknown user costs).
const MAX_LOGIN: usize = 256;

pub struct SqlPassDb {
    query: Query,
    pace: Pace,
    /// `sql URL`: whose successes the authentication cache remembers.
    source: String,
    cache: Arc<AuthCache>,
}

impl SqlPassDb {
    pub fn open(settings: &Settings) -> Result<Self, PopError> {
        let query = Query::open(settings, "passdb", Purpose::PassDb)?;
        Ok(Self {
            source: format!("sql {}", query.lookup.describe()),
            pace: Pace::new(query.timeout),
            query,
            cache: Arc::new(AuthCache::off()),
        })
    }

    /// Verifies passwords through `cache` (off by default).
    pub fn remembering(self, cache: Arc<AuthCache>) -> Self {
        Self { cache, ..self }
    }

    /// The one check of a login: the row, the proof against its password, the name the
    /// userdb gets. An unknown user and a wrong password get the same [`PopError::auth`]
    /// after the same time (see the module doc).
    fn check(&self, login: &str, proof: Proof<'_>) -> Result<String, PopError> {
        let started = Instant::now();
        let row = if login.len() > MAX_LOGIN || login.contains(char::is_control) {
            None
        } else {
            self.query.row(login, started + self.query.timeout)?
        };
        let credential = row.as_ref().and_then(|row| credential(row, login));
        let (Some(row), Some(credential)) = (row, credential) else {
            self.pace.refuse(started);
            return Err(PopError::auth(format!(
                "unknown user {login:?}, or no password (sql)"
            )));
        };
        let verdict = proof.check(&self.cache, &self.source, login, &credential);
        // A remembered success and an APOP check cost no hash: counted, they would lower
        // the target below what a wrong password costs.
        if verdict != Verdict::Remembered && matches!(proof, Proof::Password(_)) {
            self.pace.known(started);
        }
        if !verdict.is_right() {
            self.pace.refuse(started);
            return Err(PopError::auth(format!(
                "wrong password for {login:?} (sql)"
            )));
        }
        Ok(row.get("user").unwrap_or(login).to_string())
    }
}

/// The row's password, when the user can log in with one.
fn credential(row: &Row, login: &str) -> Option<Credential> {
    match Credential::parse(row.get("password")?) {
        Ok(Credential::Disabled) => None,
        Ok(credential) => Some(credential),
        Err(err) => {
            warn!("sql: user {login:?}: the password field cannot be used: {err}");
            None
        }
    }
}

impl PassDb for SqlPassDb {
    fn verify(&self, login: &str, password: &str, _conn: &Connection) -> Result<String, PopError> {
        self.check(login, Proof::Password(password))
    }

    /// Any row may hold a `{PLAIN}` password: the table is not read ahead to know.
    fn supports_apop(&self) -> bool {
        true
    }

    fn apop(&self, login: &str, digest: &str, timestamp: &str) -> Result<String, PopError> {
        self.check(login, Proof::Apop { digest, timestamp })
    }

    fn describe(&self) -> String {
        format!("sql {}", self.query.describe())
    }
}

pub struct SqlUserDb {
    query: Query,
}

impl SqlUserDb {
    pub fn open(settings: &Settings) -> Result<Self, PopError> {
        Ok(Self {
            query: Query::open(settings, "userdb", Purpose::UserDb)?,
        })
    }
}

impl UserDb for SqlUserDb {
    fn lookup(&self, user: &str) -> Result<UserFields, PopError> {
        let deadline = Instant::now() + self.query.timeout;
        let Some(row) = self.query.row(user, deadline)? else {
            return Err(PopError::auth(format!(
                "user {user:?} is not in the userdb"
            )));
        };
        columns::user_fields(&row, user).map_err(|err| {
            PopError::permanent(format!("user {user:?}: the sql userdb's row: {err}"))
        })
    }

    fn describe(&self) -> String {
        format!("sql {}", self.query.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use password_schemes::AuthCacheSettings;

    fn settings(json: &str) -> Settings {
        serde_json::from_str(json).unwrap()
    }

    /// A SQLite users table in `dir`; its URL.
    fn database(dir: &std::path::Path) -> String {
        let path = dir.join("users.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (name TEXT, password TEXT);
             INSERT INTO users VALUES ('ann', '{PLAIN}secret'), ('bob', NULL);",
        )
        .unwrap();
        // With `/` on Windows too (which takes either separator): the URL goes into JSON text.
        format!("sqlite://{}", path.display()).replace('\\', "/")
    }

    #[test]
    fn each_side_needs_its_own_query_and_a_known_url() {
        let dir = tempfile::tempdir().unwrap();
        let url = database(dir.path());
        let passdb = |extra: &str| {
            SqlPassDb::open(&settings(&format!(r#"{{"url": "{url}"{extra}}}"#)))
                .err()
                .map(|err| err.message)
        };
        let query = r#", "password_query": "SELECT password FROM users WHERE name = ?1""#;
        assert_eq!(passdb(query), None);
        for (extra, needle) in [
            ("", "needs \"password_query\""),
            (
                &format!(r#"{query}, "user_query": "SELECT 1 AS uid""#),
                "\"user_query\" belongs in the userdb",
            ),
            (&format!(r#"{query}, "timeout_seconds": 0"#), "at least 1"),
            (&format!(r#"{query}, "tls": "require""#), "not SQLite"),
        ] {
            let err = passdb(extra).unwrap();
            assert!(
                err.starts_with("maildir config key \"passdb\": ") && err.contains(needle),
                "{extra}: {err}"
            );
        }
        let err = SqlUserDb::open(&settings(
            r#"{"url": "mysql://db/mail", "user_query": "SELECT 1"}"#,
        ))
        .err()
        .unwrap();
        assert!(
            err.message.contains("\"url\" must start with"),
            "{}",
            err.message
        );
        let err = SqlUserDb::open(&settings(&format!(
            r#"{{"url": "{url}", "user_query": "SELECT name AS home FROM users WHERE name = ?1 OR name = ?2"}}"#
        )))
        .err()
        .unwrap();
        assert!(
            err.message
                .starts_with("maildir config key \"userdb\": \"user_query\": the query has 2"),
            "{}",
            err.message
        );
    }

    #[test]
    fn passwords_null_and_unknown_users_and_apop() {
        let dir = tempfile::tempdir().unwrap();
        let url = database(dir.path());
        let db = SqlPassDb::open(&settings(&format!(
            r#"{{"url": "{url}", "password_query":
                 "SELECT password, upper(name) AS user FROM users WHERE name = ?1"}}"#
        )))
        .unwrap();
        assert_eq!(db.check("ann", Proof::Password("secret")).unwrap(), "ANN");
        let auth = PopError::auth("").code;
        for (login, password) in [("ann", "wrong"), ("bob", ""), ("carl", "secret")] {
            let err = db.check(login, Proof::Password(password)).unwrap_err();
            assert_eq!(err.code, auth, "{login}");
        }
        let digest = pop3_plugin_api::apop_digest("<1.2@h>", "secret");
        let apop = Proof::Apop {
            digest: &digest,
            timestamp: "<1.2@h>",
        };
        assert_eq!(db.check("ann", apop).unwrap(), "ANN");
    }

    #[test]
    fn through_the_cache_a_password_is_remembered_until_the_row_changes() {
        let dir = tempfile::tempdir().unwrap();
        let url = database(dir.path());
        let cache: AuthCacheSettings = serde_json::from_str("{}").unwrap();
        let cache = Arc::new(AuthCache::new(Some(&cache)).unwrap());
        let db = SqlPassDb::open(&settings(&format!(
            r#"{{"url": "{url}", "password_query": "SELECT password FROM users WHERE name = ?1"}}"#
        )))
        .unwrap()
        .remembering(cache);
        let verdict = |password| {
            let row = db.query.row("ann", Instant::now() + db.query.timeout);
            let credential = credential(&row.unwrap().unwrap(), "ann").unwrap();
            Proof::Password(password).check(&db.cache, &db.source, "ann", &credential)
        };
        assert_eq!(verdict("wrong"), Verdict::Wrong);
        assert_eq!(verdict("secret"), Verdict::Verified);
        assert_eq!(verdict("secret"), Verdict::Remembered);
        rusqlite::Connection::open(dir.path().join("users.db"))
            .unwrap()
            .execute(
                "UPDATE users SET password = '{PLAIN}new' WHERE name = 'ann'",
                [],
            )
            .unwrap();
        assert_eq!(
            verdict("secret"),
            Verdict::Wrong,
            "the old password is gone"
        );
        assert_eq!(db.check("ann", Proof::Password("new")).unwrap(), "ann");
    }
}
