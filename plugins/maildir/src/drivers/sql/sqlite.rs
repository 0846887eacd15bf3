//! SQLite, through rusqlite (the version examples/sqlite uses, with SQLite built in). The
//! database is a file, opened read-only for each lookup: an open is a file open and a read of
//! the schema, and a file replaced by a new one (the usual way to publish a users table) is
//! read at the next login, never a stale copy. At most `pool_size` lookups run at once.
//!
//! A lookup is bounded by its deadline: a writer holding the database's lock is waited for
//! (SQLite's busy timeout) only until then, and a query still running then is interrupted (a
//! progress handler); a missing, unreadable or corrupt file is an error. Each is `[SYS/TEMP]`.

use super::columns::{self, Purpose, Row};
use super::Lookup;
use crate::drivers::slots::Slots;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Virtual machine steps between two looks at the clock while a query runs.
const STEPS_BETWEEN_CHECKS: i32 = 1000;

pub struct Sqlite {
    path: PathBuf,
    query: String,
    slots: Arc<Slots>,
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

impl Sqlite {
    /// Opens the file and prepares `query` (the value of the config key `key`), checking its
    /// parameter and columns; every error names a key.
    pub fn open(
        path: &Path,
        query: &str,
        key: &str,
        purpose: Purpose,
        pool_size: u32,
    ) -> Result<Self, String> {
        if !path.is_absolute() {
            return Err(
                "\"url\": a SQLite database is named by an absolute path: sqlite:///path/to/users.db"
                    .into(),
            );
        }
        let conn = connect(path).map_err(|err| format!("\"url\": {}: {err}", path.display()))?;
        let statement = conn
            .prepare(query)
            .map_err(|err| format!("\"{key}\": {err}"))?;
        let names: Vec<&str> = statement.column_names().collect();
        columns::check(purpose, statement.parameter_count(), &names)
            .map_err(|err| format!("\"{key}\": {err}"))?;
        Ok(Self {
            path: path.to_path_buf(),
            query: query.to_string(),
            slots: Arc::new(Slots::new(pool_size)),
        })
    }

    fn first_row(&self, login: &str, deadline: Instant) -> Result<Option<Row>, String> {
        let failed = |err: rusqlite::Error| {
            if Instant::now() >= deadline {
                format!("no answer by the deadline (timeout_seconds): {err}")
            } else {
                format!("{}: {err}", self.path.display())
            }
        };
        let mut conn = connect(&self.path).map_err(failed)?;
        conn.busy_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(failed)?;
        conn.progress_handler(
            STEPS_BETWEEN_CHECKS,
            Some(move || Instant::now() >= deadline),
        )
        .map_err(failed)?;
        let mut statement = conn.prepare(&self.query).map_err(failed)?;
        let names: Vec<String> = statement.column_names().map(String::from).collect();
        let mut rows = statement.query([login]).map_err(failed)?;
        let Some(found) = rows.next().map_err(failed)? else {
            return Ok(None);
        };
        let mut row = Row::default();
        for (index, name) in names.iter().enumerate() {
            let value = found.get_ref(index).map_err(failed)?;
            row.push(
                name,
                text(value).map_err(|err| format!("column \"{name}\": {err}"))?,
            );
        }
        if rows.next().map_err(failed)?.is_some() {
            return Err(columns::MORE_THAN_ONE_ROW.to_string());
        }
        Ok(Some(row))
    }
}

/// A value as text: integers as their digits; a real number is no field's value.
fn text(value: ValueRef<'_>) -> Result<Option<String>, String> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(number) => Ok(Some(number.to_string())),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| "not UTF-8".to_string()),
        ValueRef::Real(_) => Err("a real number, not text or an integer".to_string()),
    }
}

impl Lookup for Sqlite {
    fn row(&self, login: &str, deadline: Instant) -> Result<Option<Row>, String> {
        let Some(_slot) = self.slots.take(deadline, "SQLite lookups") else {
            return Err("no free lookup by the deadline (timeout_seconds)".to_string());
        };
        self.first_row(login, deadline)
    }

    fn describe(&self) -> String {
        format!(
            "SQLite {} (at most {} at once)",
            self.path.display(),
            self.slots.total()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn database(dir: &Path) -> PathBuf {
        let path = dir.join("users.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (name TEXT, password TEXT, uid INTEGER, gid INTEGER);
             INSERT INTO users VALUES ('ann', '{PLAIN}x', 1000, 100), ('dup', 'a', 1, 1),
                                      ('dup', 'b', 1, 1);",
        )
        .unwrap();
        path
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn rows_by_parameter_and_errors_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        let query = "SELECT password, name AS user FROM users WHERE name = ?1";
        let db = Sqlite::open(&path, query, "password_query", Purpose::PassDb, 2).unwrap();
        let row = db.row("ann", soon()).unwrap().unwrap();
        assert_eq!(
            (row.get("password"), row.get("user")),
            (Some("{PLAIN}x"), Some("ann"))
        );
        assert!(db.row("ann' OR '1'='1", soon()).unwrap().is_none());
        let err = db.row("dup", soon()).unwrap_err();
        assert!(err.contains("more than one row"), "{err}");

        let open = |query: &str| {
            Sqlite::open(&path, query, "password_query", Purpose::PassDb, 2)
                .err()
                .unwrap()
        };
        let err = open("SELEC password FROM users WHERE name = ?1");
        assert!(
            err.starts_with("\"password_query\": ") && err.contains("syntax"),
            "{err}"
        );
        let err = open("SELECT password FROM users");
        assert!(err.contains("0 parameters"), "{err}");
        let err = open("SELECT passwd FROM users WHERE name = ?1");
        assert!(err.starts_with("\"password_query\": "), "{err}");
        let missing = Sqlite::open(&dir.path().join("none.db"), query, "k", Purpose::PassDb, 1);
        assert!(missing.err().unwrap().starts_with("\"url\": "));
        let relative = Sqlite::open(Path::new("users.db"), query, "k", Purpose::PassDb, 1);
        assert!(relative.err().unwrap().contains("absolute path"));
    }

    #[test]
    fn a_query_past_its_deadline_is_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        // A recursive query that would count for a very long time.
        let query = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)
                     SELECT count(*) AS home FROM n WHERE ?1 IS NOT NULL";
        let db = Sqlite::open(&path, query, "user_query", Purpose::UserDb, 1).unwrap();
        let started = Instant::now();
        let err = db
            .row("ann", started + Duration::from_millis(300))
            .unwrap_err();
        assert!(err.contains("no answer by the deadline"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
