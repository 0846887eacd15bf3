//! The connection pool and the schema check: what `init` opens, and how database errors
//! become POP3 errors.

use crate::config::Config;
use pop3_pg_pool::Database;
use pop3_plugin_api::PopError;

pub use pop3_pg_pool::{with_causes, Conn, Pool};
/// A query parameter (lets a parameter list mix types).
pub type Param<'a> = &'a (dyn pg::types::ToSql + Sync);

/// The schema this code reads and writes (`schema.sql`'s `schema_version`).
pub const SCHEMA_VERSION: i32 = 1;
pub const SCHEMA_SQL: &str = include_str!("../schema.sql");

/// Opens the pool and checks (or applies) the schema, so that a wrong URL, a missing schema
/// or one of another version stops the server at startup with a message naming the problem.
pub fn open(config: &Config) -> Result<Pool, String> {
    let database = Database::new(
        &config.url,
        &config.tls,
        config.ca_file.as_deref(),
        config.connect_timeout(),
    )
    .map_err(|err| format!("config key {err}"))?;
    let mut first = database.connect()?;
    check_schema(&mut first, config.apply_schema)?;
    Ok(database.pool(config.pool_size, config.connect_timeout()))
}

fn check_schema(conn: &mut pg::Client, apply: bool) -> Result<(), String> {
    let has_table = conn
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .map_err(|err| format!("cannot read the schema: {err}"))?
        .get::<_, bool>(0);
    if !has_table {
        if !apply {
            return Err(
                "the database has no pop3host schema (no table schema_version): apply plugins/postgres/schema.sql, or set \"apply_schema\": true".to_string(),
            );
        }
        conn.batch_execute(SCHEMA_SQL)
            .map_err(|err| format!("applying the schema failed: {err}"))?;
    }
    let version: i32 = conn
        .query_one("SELECT max(version) FROM schema_version", &[])
        .map_err(|err| format!("cannot read schema_version: {err}"))?
        .get::<_, Option<i32>>(0)
        .ok_or("the table schema_version is empty")?;
    if version != SCHEMA_VERSION {
        return Err(format!(
            "the database schema is version {version}, this plugin needs version {SCHEMA_VERSION}"
        ));
    }
    Ok(())
}

/// A pooled connection for one call, or `[SYS/TEMP]` when the database is down or busy.
pub fn get(pool: &Pool) -> Result<Conn, PopError> {
    pool.get().map_err(|err| {
        pop3_plugin_api::warn!("postgres: no database connection: {err}");
        PopError::temporary("the mail store is unavailable, try again later")
    })
}

/// A failed query: logged with the database's text, `[SYS/TEMP]` without it for the client.
pub fn temporary(what: &str, err: pg::Error) -> PopError {
    pop3_plugin_api::warn!("postgres: {what}: {}", with_causes(&err));
    PopError::temporary("the mail store is unavailable, try again later")
}
