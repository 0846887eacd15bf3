//! A few connections to one directory server, kept open between logins: a login leases one
//! (waiting for a free one until its deadline), binds or searches on it, and gives it back.
//!
//! Every step of a lease ends by the lease's deadline: waiting for a connection, connecting
//! (TCP, StartTLS and the TLS handshake) and each operation. A connection that timed out or
//! broke is dropped, never given back; a kept connection the server closed in the meantime
//! (a restart, an idle timeout) is replaced by a new one once, within the same deadline, so
//! that the service connection comes back by itself after an outage.

use super::super::slots::{Slot, Slots};
use ldap3::result::{LdapError, LdapResult};
use ldap3::{LdapConn, LdapConnSettings, Scope, SearchEntry, SearchOptions};
use pop3_plugin_api::debug;
use rustls::ClientConfig;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// LDAP's result code for a wrong password or a DN with no password (RFC 4511).
const INVALID_CREDENTIALS: u32 = 49;
/// The server found more entries than asked for.
const SIZE_LIMIT_EXCEEDED: u32 = 4;

/// How to reach the server.
pub struct Server {
    pub url: String,
    /// The TLS settings, for ldaps:// and StartTLS.
    pub tls: Option<Arc<ClientConfig>>,
    pub starttls: bool,
    /// The service bind (DN, password) for searches; anonymous without.
    pub service: Option<(String, String)>,
    pub timeout: Duration,
    pub pool_size: u32,
}

pub struct Pool {
    server: Server,
    idle: Mutex<Vec<Connection>>,
    slots: Arc<Slots>,
}

/// Whose rights a connection has: searches need the service's.
#[derive(PartialEq)]
enum Identity {
    Service,
    /// Anonymous after a connect, or whoever the last bind was for.
    Other,
}

struct Connection {
    ldap: LdapConn,
    identity: Identity,
}

/// A connection of the pool, leased to one login until dropped.
pub struct Lease<'a> {
    pool: &'a Pool,
    connection: Option<Connection>,
    deadline: Instant,
    _slot: Slot,
}

impl Pool {
    pub fn new(server: Server) -> Self {
        let slots = Arc::new(Slots::new(server.pool_size));
        Self {
            server,
            idle: Mutex::default(),
            slots,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.server.timeout
    }

    /// `url (StartTLS, pool 4, timeout 5s)` for the log.
    pub fn describe(&self) -> String {
        format!(
            "{}{} (pool {}, timeout {}s)",
            self.server.url,
            if self.server.starttls {
                " with StartTLS"
            } else {
                ""
            },
            self.server.pool_size,
            self.server.timeout.as_secs()
        )
    }

    /// A connection until `deadline`: a kept one, or a new one when it is first used.
    pub fn lease(&self, deadline: Instant) -> Result<Lease<'_>, String> {
        let Some(slot) = self.slots.take(deadline, "LDAP connections") else {
            return Err(format!(
                "no free connection to {} within {}s",
                self.server.url,
                self.server.timeout.as_secs()
            ));
        };
        let connection = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        Ok(Lease {
            pool: self,
            connection,
            deadline,
            _slot: slot,
        })
    }

    fn connect(&self, deadline: Instant) -> Result<Connection, String> {
        let server = &self.server;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(left(deadline))
            .set_starttls(server.starttls);
        if let Some(tls) = &server.tls {
            settings = settings.set_config(tls.clone());
        }
        let ldap = LdapConn::with_settings(settings, &server.url)
            .map_err(|err| format!("cannot connect to {}: {err}", server.url))?;
        Ok(Connection {
            ldap,
            identity: Identity::Other,
        })
    }
}

/// What is left of the time until `deadline` (zero makes an operation time out at once).
fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Errors that say the connection is gone, rather than slow or refused.
fn is_broken(err: &LdapError) -> bool {
    matches!(
        err,
        LdapError::Io { .. }
            | LdapError::OpSend { .. }
            | LdapError::ResultRecv { .. }
            | LdapError::EndOfStream
    )
}

impl Lease<'_> {
    /// Runs `op` on the leased connection, connecting first when there is none. A kept
    /// connection found broken is replaced once; a connection that failed otherwise is dropped.
    fn run<T>(
        &mut self,
        what: &str,
        mut op: impl FnMut(&mut Connection, Instant) -> ldap3::result::Result<T>,
    ) -> Result<T, String> {
        let url = &self.pool.server.url;
        loop {
            let kept = self.connection.take();
            let reused = kept.is_some();
            let mut connection = match kept {
                Some(connection) => connection,
                None => self.pool.connect(self.deadline)?,
            };
            match op(&mut connection, self.deadline) {
                Ok(value) => {
                    self.connection = Some(connection);
                    return Ok(value);
                }
                Err(err) if reused && is_broken(&err) => {
                    debug!("the connection to {url} broke ({err}): connecting again");
                }
                Err(err) => return Err(format!("{what} on {url}: {err}")),
            }
        }
    }

    /// Binds as `dn` with `password`: true when the server accepts it, false for a wrong
    /// password (or a DN that does not exist: the server does not tell). The caller refuses
    /// empty passwords first (an empty password would be an unauthenticated bind).
    pub fn bind(&mut self, dn: &str, password: &str) -> Result<bool, String> {
        let result = self.run("bind", |connection, deadline| {
            connection.identity = Identity::Other;
            connection
                .ldap
                .with_timeout(left(deadline))
                .simple_bind(dn, password)
        })?;
        match result.rc {
            0 => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            _ => Err(refused("bind", &result)),
        }
    }

    /// The one entry under `base` that `filter` matches, with `attrs`: `None` when none
    /// does; more than one is an error (the filter does not single out a user). Searches as
    /// the service (or anonymously without a service bind).
    pub fn find(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Option<SearchEntry>, String> {
        let service = &self.pool.server.service;
        let result = self.run("search", |connection, deadline| {
            if connection.identity != Identity::Service {
                let (dn, password) = service
                    .as_ref()
                    .map_or(("", ""), |(dn, password)| (dn.as_str(), password.as_str()));
                connection
                    .ldap
                    .with_timeout(left(deadline))
                    .simple_bind(dn, password)?
                    .success()?;
                connection.identity = Identity::Service;
            }
            // Two are enough to tell "one" from "more than one", and bound what a
            // directory can send.
            connection
                .ldap
                .with_timeout(left(deadline))
                .with_search_options(SearchOptions::new().sizelimit(2))
                .search(base, Scope::Subtree, filter, attrs.to_vec())
        })?;
        let (entries, result) = (result.0, result.1);
        if !matches!(result.rc, 0 | SIZE_LIMIT_EXCEEDED) {
            return Err(refused(&format!("search {filter} under {base}"), &result));
        }
        // Search references (referrals to other servers) are not followed.
        let mut entries = entries.into_iter().filter(|entry| !entry.is_ref());
        match (entries.next(), entries.next()) {
            (None, _) => Ok(None),
            (Some(entry), None) => Ok(Some(SearchEntry::construct(entry))),
            (Some(_), Some(_)) => Err(format!("more than one entry under {base} matches {filter}")),
        }
    }
}

fn refused(what: &str, result: &LdapResult) -> String {
    format!("{what}: LDAP result {} {}", result.rc, result.text)
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.push(connection);
        }
    }
}
