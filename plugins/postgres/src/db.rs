//! The connection pool and the schema check: what `init` opens, and how database errors
//! become POP3 errors.

use crate::config::{Config, Tls};
use pop3_plugin_api::PopError;
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

pub type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;
/// A query parameter (lets a parameter list mix types).
pub type Param<'a> = &'a (dyn pg::types::ToSql + Sync);

pub type Conn = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

/// The schema this code reads and writes (`schema.sql`'s `schema_version`).
pub const SCHEMA_VERSION: i32 = 1;
pub const SCHEMA_SQL: &str = include_str!("../schema.sql");

/// Opens the pool and checks (or applies) the schema, so that a wrong URL, a missing schema
/// or one of another version stops the server at startup with a message naming the problem.
pub fn open(config: &Config) -> Result<Pool, String> {
    let mut pg_config: pg::Config = config
        .url
        .parse()
        .map_err(|err| format!("postgres config key \"url\": {err}"))?;
    let (tls, mode) = crate::tls::connector(&config.tls, config.ca_file.as_deref())?;
    pg_config.ssl_mode(mode);
    if pg_config.get_connect_timeout().is_none() {
        pg_config.connect_timeout(config.connect_timeout());
    }
    // The first connection directly: the pool keeps only the text of its last error, which
    // lacks the cause ("error performing TLS handshake", but not which certificate failed).
    let keys = match config.tls {
        Tls::Disable => "key \"url\"",
        Tls::Require | Tls::VerifyFull => "keys \"url\" and \"tls\"",
    };
    let mut first = pg_config.connect(tls.clone()).map_err(|err| {
        format!(
            "the database is unreachable ({}); check postgres config {keys} and that PostgreSQL runs",
            with_causes(&err)
        )
    })?;
    check_schema(&mut first, config.apply_schema)?;
    let manager = PostgresConnectionManager::new(pg_config, tls);
    Ok(r2d2::Pool::builder()
        .max_size(config.pool_size)
        // No idle connections kept open before they are needed: a cluster of instances
        // must not hold pool_size connections each while quiet.
        .min_idle(Some(0))
        .connection_timeout(config.connect_timeout())
        // The pool's own log would go to stderr, bypassing the host's logger.
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build_unchecked(manager))
}

/// An error and its causes, `error: cause: cause`.
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
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
