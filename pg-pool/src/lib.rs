//! # pop3_pg_pool: connections to PostgreSQL for the plugins that use it
//!
//! The postgres plugin (its mail store) and the maildir plugin's `sql` driver (its users)
//! reach PostgreSQL the same way: a libpq URL, TLS with libpq's `sslmode` names (`tls`), a
//! connect timeout, one first connection at startup whose error says why, and a small r2d2
//! pool that keeps no idle connection and logs nothing itself. One implementation, so that a
//! fix reaches both.
//!
//! Module map: `tls` (the `"tls"` and `"ca_file"` settings), `database` (URL, first
//! connection, pool, errors with their causes).

mod database;
pub mod tls;

pub use database::{with_causes, Conn, Database, Pool};
/// The client crate, for the users' queries and types (one version for every user).
pub use postgres as pg;
pub use tls::Tls;
