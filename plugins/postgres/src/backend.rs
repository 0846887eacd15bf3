//! The plugin entry points: login in one transaction (password, LOGIN-DELAY, the maildrop
//! lock, the last login, the listing), and the per-user LOGIN-DELAY and EXPIRE values.

use crate::config::{Config, HELP};
use crate::db::{self, Pool};
use crate::lock::Leases;
use crate::mailbox::{PgMailbox, Stored};
use password_schemes::{unusable_login, AuthCache, Credential};
use pop3_plugin_api::{info, warn, Backend, Connection, Expire, PluginInfo, PopError};
use std::sync::OnceLock;

/// Verified for a user that does not exist, so that an unknown name costs the time of a
/// SHA512-CRYPT verification (the recommended scheme) and timing reveals less about which
/// names exist. A user stored with a costlier scheme still answers later than an unknown one.
const UNKNOWN_USER_HASH: &str = "{SHA512-CRYPT}$6$pop3hostdummysal$glxrnhMKgN.BaUvRztpzc50CvLJAMweCYvMCHGVQoFwKuGCG.DH7vvN45Te2h2BbPq/kDQQHklIegQ/qd38IH1";

fn unknown_user_credential() -> &'static Credential {
    static CREDENTIAL: OnceLock<Credential> = OnceLock::new();
    CREDENTIAL.get_or_init(|| Credential::parse(UNKNOWN_USER_HASH).unwrap_or(Credential::Disabled))
}

pub struct PostgresBackend {
    pool: Pool,
    leases: Leases,
    /// Passwords are verified through it (off unless configured).
    cache: AuthCache,
}

/// The users row a login reads.
struct UserRow {
    name: String,
    password: String,
    login_delay: Option<i32>,
    enabled: bool,
    seconds_since_last_login: Option<f64>,
}

impl Backend for PostgresBackend {
    type Mailbox = PgMailbox;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "postgres".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Mailboxes and users in PostgreSQL (schema.sql), one maildrop lock \
                          and LOGIN-DELAY across every instance of a cluster"
                .into(),
            config_help: HELP.into(),
        }
    }

    fn init(config: &str) -> Result<Self, PopError> {
        let config = Config::parse(config)?;
        let cache = config.auth_cache()?;
        let pool =
            db::open(&config).map_err(|err| PopError::permanent(format!("postgres: {err}")))?;
        let leases = Leases::start(pool.clone(), config.lock_lease())
            .map_err(|err| PopError::permanent(format!("postgres: {err}")))?;
        info!("postgres: {}", cache.describe());
        Ok(Self {
            pool,
            leases,
            cache,
        })
    }

    fn authenticate(
        &self,
        user: &str,
        password: &str,
        conn: &Connection,
    ) -> Result<PgMailbox, PopError> {
        // What no row may let in (an empty password, one with a NUL, a control character in
        // the login), refused before the database is asked.
        if let Some(why) = unusable_login(user, Some(password)) {
            return Err(PopError::auth(why));
        }
        let mut client = db::get(&self.pool)?;
        let mut tx = client
            .transaction()
            .map_err(|err| db::temporary("starting a login", err))?;
        // FOR UPDATE: two logins of one user on two instances run one after the other, so
        // that LOGIN-DELAY and the lock see each other's effects.
        let row = tx
            .query_opt(
                "SELECT name, password, login_delay, enabled,
                        extract(epoch FROM now() - last_login)::float8
                 FROM users WHERE name = lower($1) FOR UPDATE",
                &[&user],
            )
            .map_err(|err| db::temporary("reading the user", err))?
            .map(|row| UserRow {
                name: row.get(0),
                password: row.get(1),
                login_delay: row.get(2),
                enabled: row.get(3),
                seconds_since_last_login: row.get(4),
            });
        let Some(row) = row else {
            // Never through the cache: an unknown user pays the dummy's verification each time.
            unknown_user_credential().verify(password);
            return Err(PopError::auth(format!("no user {user:?}")));
        };
        let credential = Credential::parse(&row.password).unwrap_or_else(|err| {
            warn!("postgres: user {}: bad password field: {err}", row.name);
            Credential::Disabled
        });
        // Remembered with the row's password field: an updated row is a miss.
        if !self
            .cache
            .verify("postgres", &row.name, &credential, password)
            .is_right()
        {
            return Err(PopError::auth(format!("wrong password for {}", row.name)));
        }
        if !row.enabled {
            return Err(PopError::auth(format!("user {} is disabled", row.name)));
        }
        if let (Some(delay), Some(since)) = (row.login_delay, row.seconds_since_last_login) {
            if since < f64::from(delay) {
                return Err(PopError::login_delay(format!(
                    "{} logged in {since:.0} s ago, LOGIN-DELAY is {delay} s",
                    row.name
                )));
            }
        }
        let holder = self.leases.acquire(&mut tx, &row.name)?;
        tx.execute(
            "UPDATE users SET last_login = now() WHERE name = $1",
            &[&row.name],
        )
        .map_err(|err| db::temporary("recording the login", err))?;
        let messages = tx
            .query(
                "SELECT id, uidl, size FROM messages WHERE user_name = $1 ORDER BY id",
                &[&row.name],
            )
            .map_err(|err| db::temporary("listing messages", err))?
            .iter()
            .map(|message| Stored {
                id: message.get(0),
                uidl: message.get(1),
                size: message.get::<_, i64>(2).max(0) as u64,
            })
            .collect();
        tx.commit()
            .map_err(|err| db::temporary("committing the login", err))?;
        info!("postgres: {} logged in from {}", row.name, conn.peer);
        Ok(PgMailbox::new(
            self.pool.clone(),
            row.name,
            holder,
            messages,
        ))
    }

    fn login_delay(&self, user: Option<&str>) -> Option<u32> {
        let value: i32 = self.user_setting("login_delay", user?)?;
        u32::try_from(value).ok()
    }

    fn expire(&self, user: Option<&str>) -> Option<Expire> {
        let days: i32 = self.user_setting("expire_days", user?)?;
        Some(u32::try_from(days).map_or(Expire::Never, Expire::Days))
    }

    fn shutdown(&self) {
        self.leases.stop();
        let released = db::get(&self.pool)
            .map_err(|err| err.message)
            .and_then(|mut conn| {
                conn.execute(
                    "DELETE FROM maildrop_locks WHERE instance = $1",
                    &[&self.leases.instance()],
                )
                .map_err(|err| err.to_string())
            });
        if let Err(err) = released {
            warn!("postgres: releasing this instance's locks at shutdown failed: {err}");
        }
    }
}

impl PostgresBackend {
    /// One nullable integer column of `user`'s row; `None` when unset or unreadable (logged).
    fn user_setting(&self, column: &'static str, user: &str) -> Option<i32> {
        let query = format!("SELECT {column} FROM users WHERE name = lower($1)");
        let mut conn = db::get(&self.pool).ok()?;
        match conn.query_opt(query.as_str(), &[&user]) {
            Ok(row) => row?.get(0),
            Err(err) => {
                warn!("postgres: reading {column} of {user}: {err}");
                None
            }
        }
    }
}
