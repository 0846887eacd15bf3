//! PostgreSQL, through the crates and code the postgres plugin uses (`pop3_pg_pool`: the URL,
//! `tls` and `ca_file`, the connect timeout, the pool).
//!
//! A lookup is bounded three ways: every connection runs with `statement_timeout` set to the
//! timeout, so the server itself cancels a query that waits on a lock or runs long (and the
//! connection stays usable); the pool waits for a connection no longer than the time left;
//! and the whole lookup runs on a thread of its own (see `deadline`), so a server that stopped
//! answering altogether (SIGSTOP, a dead network path) costs the login no more than the
//! timeout either. Such a lookup keeps its pooled connection until the server answers or the
//! connection breaks: at most `pool_size` of them, after which further logins wait for a
//! free connection until their deadline and then fail (`[SYS/TEMP]` after `timeout_seconds`)
//! rather than pile up.

use super::columns::{self, Purpose, Row};
use super::{Lookup, Settings};
use crate::drivers::deadline::{self, Unanswered};
use pop3_pg_pool::pg::fallible_iterator::FallibleIterator;
use pop3_pg_pool::pg::types::{FromSql, ToSql, Type};
use pop3_pg_pool::{pg, with_causes, Database, Pool};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Postgresql {
    pool: Pool,
    query: Arc<str>,
    database: String,
}

impl Postgresql {
    /// Connects once and prepares `query` (the value of the config key `key`), checking its
    /// parameter and columns; every error names a key.
    pub fn open(
        settings: &Settings,
        query: &str,
        key: &str,
        purpose: Purpose,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut database = Database::new(
            &settings.url,
            &settings.tls,
            settings.ca_file.as_deref(),
            timeout,
        )?;
        database.set("statement_timeout", &timeout.as_millis().to_string());
        let statement = database
            .connect()?
            .prepare(query)
            .map_err(|err| format!("\"{key}\": {}", with_causes(&err)))?;
        let names: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
        columns::check(purpose, statement.params().len(), &names)
            .map_err(|err| format!("\"{key}\": {err}"))?;
        let login = &statement.params()[0];
        if !<&str as ToSql>::accepts(login) {
            return Err(format!(
                "\"{key}\": $1 is compared as {login}; the login is text"
            ));
        }
        if let Some(column) = statement.columns().iter().find(|c| !readable(c.type_())) {
            return Err(format!(
                "\"{key}\": the column \"{}\" is of type {}; text or an integer is read",
                column.name(),
                column.type_()
            ));
        }
        Ok(Self {
            database: format!("PostgreSQL {}", database.describe()),
            pool: database.pool(settings.pool_size, timeout),
            query: query.into(),
        })
    }
}

/// Integers (uid, gid) are read as their digits, the rest as text.
fn readable(ty: &Type) -> bool {
    matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8 | Type::OID)
        || <String as FromSql>::accepts(ty)
}

/// Column `index` of `row` as text.
fn text(row: &pg::Row, index: usize) -> Result<Option<String>, pg::Error> {
    fn digits<T: ToString>(value: Option<T>) -> Option<String> {
        value.map(|value| value.to_string())
    }
    Ok(match *row.columns()[index].type_() {
        Type::INT2 => digits(row.try_get::<_, Option<i16>>(index)?),
        Type::INT4 => digits(row.try_get::<_, Option<i32>>(index)?),
        Type::INT8 => digits(row.try_get::<_, Option<i64>>(index)?),
        Type::OID => digits(row.try_get::<_, Option<u32>>(index)?),
        _ => row.try_get(index)?,
    })
}

/// The query's first row for `login`; more than one is the query's mistake, not a user.
fn first_row(
    pool: &Pool,
    query: &str,
    login: &str,
    deadline: Instant,
) -> Result<Option<Row>, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    let mut conn = pool
        .get_timeout(left)
        .map_err(|err| format!("no connection to the database: {err}"))?;
    let failed = |err: pg::Error| with_causes(&err);
    let mut rows = conn
        .query_raw(query, [&login as &(dyn ToSql + Sync)])
        .map_err(failed)?;
    let Some(found) = rows.next().map_err(failed)? else {
        return Ok(None);
    };
    if rows.next().map_err(failed)?.is_some() {
        return Err(columns::MORE_THAN_ONE_ROW.to_string());
    }
    let mut row = Row::default();
    for (index, column) in found.columns().iter().enumerate() {
        row.push(column.name(), text(&found, index).map_err(failed)?);
    }
    Ok(Some(row))
}

impl Lookup for Postgresql {
    fn row(&self, login: &str, deadline: Instant) -> Result<Option<Row>, String> {
        let (pool, query, login) = (self.pool.clone(), self.query.clone(), login.to_string());
        match deadline::within("sql", deadline, move || {
            first_row(&pool, &query, &login, deadline)
        }) {
            Ok(answer) => answer,
            Err(Unanswered::Late) => Err("no answer by the deadline (timeout_seconds)".into()),
            Err(other) => Err(other.to_string()),
        }
    }

    fn describe(&self) -> String {
        self.database.clone()
    }
}
