//! # sqlite-plugin: mailboxes in an SQLite database
//!
//! Users and messages live in two tables (`schema.sql`); `load.py` fills them from a Maildir
//! or `.eml` files, counting each message's POP3 size as it goes. The plugin reads the
//! tables and deletes rows; it never writes anything else.
//!
//! - **Config**: `{"database": "/path/mail.db"}`. `init` opens the file and checks the schema,
//!   so a wrong path or an empty file stops the server at startup with the file's name.
//! - **One connection per session**: `rusqlite::Connection` is `Send` but not `Sync`, so the
//!   backend (shared by all sessions, hence `Sync`) keeps only the path, and every login opens
//!   its own connection, which the session's mailbox owns.
//! - **UIDLs** are the `messages.id` column: an `INTEGER PRIMARY KEY AUTOINCREMENT`, which
//!   SQLite never reuses.
//! - **Sizes** come from the `size` column, stored at load time, so `list` costs one query.
//! - **Deletion** happens only in `delete` (the POP3 UPDATE state), as one transaction: all
//!   the messages marked in the session go, or none does.
//! - **The maildrop lock** is an in-process set of user ids, not a row in the database. One
//!   pop3host process serves the database, and a set cannot go stale: the entry goes when the
//!   mailbox is dropped, however the session ended, and a crash takes the whole set with it.
//!   A lock row would outlive a crash or `kill -9` and then need a lease and someone to clear
//!   it. Several pop3host processes on one database would need such a row (a `locks` table
//!   with a `locked_until` lease, renewed by every call), which is why the set is enough here.

mod db;
mod mailbox;

pub use mailbox::SqliteMailbox;

use pop3_plugin_api::{export_plugin, info, Backend, Connection, PluginInfo, PopError};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

const CONFIG_HELP: &str = r#"{"database": "/path/mail.db"}

database  the SQLite file made by examples/sqlite/load.py (schema: examples/sqlite/schema.sql)
"#;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    database: PathBuf,
}

pub struct SqliteBackend {
    database: PathBuf,
    /// The ids of the users that have a session: the maildrop locks (see the crate docs).
    sessions: Arc<Mutex<HashSet<i64>>>,
}

impl Backend for SqliteBackend {
    type Mailbox = SqliteMailbox;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "sqlite".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Mailboxes in an SQLite database: users and messages in two tables, \
                          filled by load.py."
                .into(),
            config_help: CONFIG_HELP.into(),
        }
    }

    fn init(config: &str) -> Result<Self, PopError> {
        let Config { database } = serde_json::from_str(config).map_err(|e| {
            PopError::permanent(format!("config: {e}; expected {}", CONFIG_HELP.trim()))
        })?;
        let (users, messages) = db::check(&database)?;
        info!(
            "sqlite: {}: {users} users, {messages} messages",
            database.display()
        );
        Ok(Self {
            database,
            sessions: Arc::default(),
        })
    }

    fn authenticate(
        &self,
        user: &str,
        password: &str,
        _conn: &Connection,
    ) -> Result<SqliteMailbox, PopError> {
        let db = db::open(&self.database)?;
        let user_id = db::user_id(&db, user, password)?
            .ok_or_else(|| PopError::auth(format!("wrong user or password for {user:?}")))?;
        let lock = UserLock::take(&self.sessions, user_id)
            .ok_or_else(|| PopError::in_use(format!("{user} is logged in in another session")))?;
        Ok(SqliteMailbox::new(db, user_id, lock))
    }
}

/// One session's hold on a user's maildrop; dropping it lets the next session in.
pub struct UserLock {
    sessions: Arc<Mutex<HashSet<i64>>>,
    user_id: i64,
}

impl UserLock {
    /// The lock, or `None` while another session holds it.
    fn take(sessions: &Arc<Mutex<HashSet<i64>>>, user_id: i64) -> Option<Self> {
        // Every change to the set is a single insert or remove: a panic elsewhere cannot
        // leave it half-changed, so a poisoned mutex is still good.
        let mut set = sessions.lock().unwrap_or_else(PoisonError::into_inner);
        set.insert(user_id).then(|| Self {
            sessions: Arc::clone(sessions),
            user_id,
        })
    }
}

impl Drop for UserLock {
    fn drop(&mut self) {
        let mut set = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        set.remove(&self.user_id);
    }
}

export_plugin!(SqliteBackend);
