//! # postgres: a pop3host backend over PostgreSQL
//!
//! Users and messages in a database (`schema.sql`), so that several pop3host instances behind
//! a load balancer serve the same mailboxes: the RFC 1939 maildrop lock and LOGIN-DELAY hold
//! across all of them, and a deletion committed through one is seen by all.
//!
//! Module map: `config` (the JSON), `db` (the pool, the schema check, errors; the connection
//! settings and TLS are the `pg-pool/` crate's), `lock` (the cluster-wide maildrop lock, a lease row, and why not an
//! advisory lock), `backend` (login), `mailbox` (the session: listing, RETR, UPDATE), `body`
//! (chunked reads of a body), `delivery` (what `pop3host-pg` uses to store a message with its
//! exact POP3 size).

mod backend;
mod body;
mod config;
pub mod db;
pub mod delivery;
mod lock;
mod mailbox;

pub use backend::PostgresBackend;
pub use config::{Config, Tls};

pop3_plugin_api::export_plugin!(PostgresBackend);
