//! Opening the database, checking its schema, and turning SQLite's errors into POP3 response
//! codes.

use pop3_plugin_api::PopError;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use std::path::Path;
use std::time::Duration;

/// How long a statement waits for a lock held by another connection (load.py adding mail,
/// another session deleting) before it gives up with `[SYS/TEMP]`. Well below the host's
/// default `--backend-timeout` of 30 s.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Every column the plugin reads, by table: a database without them is not one of ours.
const SCHEMA: [(&str, &str); 2] = [
    ("users", "id, name, password"),
    ("messages", "id, user_id, size, body"),
];

/// Opens the database read-write, never creating it: a missing file is an error, not an
/// empty mailbox store.
pub fn open(path: &Path) -> Result<Connection, PopError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = Connection::open_with_flags(path, flags)
        .map_err(|e| error(&format!("cannot open {}", path.display()), e))?;
    db.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| error("busy_timeout", e))?;
    Ok(db)
}

/// At `init`: the file exists and has the schema. Returns (users, messages), for the log.
pub fn check(path: &Path) -> Result<(i64, i64), PopError> {
    let name = path.display();
    if !path.is_file() {
        return Err(PopError::permanent(format!(
            "database {name}: no such file (create it with examples/sqlite/load.py)"
        )));
    }
    let db = open(path)?;
    for (table, columns) in SCHEMA {
        db.prepare(&format!("SELECT {columns} FROM {table} LIMIT 0"))
            .map_err(|e| {
                PopError::permanent(format!(
                    "database {name} does not have the sqlite-plugin schema \
                     (table {table} with columns {columns}): {e}; \
                     create it with examples/sqlite/schema.sql or load.py"
                ))
            })?;
    }
    let count = |table: &str| -> Result<i64, PopError> {
        db.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .map_err(|e| error(&format!("database {name}"), e))
    };
    Ok((count("users")?, count("messages")?))
}

/// The id of `user` if `password` is theirs.
pub fn user_id(db: &Connection, user: &str, password: &str) -> Result<Option<i64>, PopError> {
    let found: Option<(i64, String)> = db
        .query_row(
            "SELECT id, password FROM users WHERE name = ?1",
            [user],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(|e| error("looking up the user", e))?;
    // A wrong user and a wrong password look the same to the client: [AUTH].
    Ok(found.and_then(|(id, stored)| (stored == password).then_some(id)))
}

/// The response code for a failed SQLite call: `[SYS/TEMP]` for what goes away by itself
/// (a lock held too long, a full disk being cleaned), `[SYS/PERM]` for what needs a human.
pub fn error(context: &str, err: rusqlite::Error) -> PopError {
    let message = format!("sqlite: {context}: {err}");
    match err.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseCorrupt
            | ErrorCode::NotADatabase
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly,
        ) => PopError::permanent(message),
        _ => PopError::temporary(message),
    }
}
