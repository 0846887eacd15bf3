//! A few connections to one directory server, kept open between logins: a login leases one
//! (waiting for a free one until its deadline), binds or searches on it, and gives it back.
//!
//! Every step of a lease ends by the lease's deadline: waiting for a connection, connecting
//! (TCP, StartTLS and the TLS handshake) and each operation. A connection that timed out or
//! broke is dropped, never given back; a kept connection the server closed in the meantime
//! (a restart, an idle timeout) is replaced by a new one once, within the same deadline, so
//! that the service connection comes back by itself after an outage.
//!
//! A search is read entry by entry (ldap3's streaming search, not `search()`, which reads
//! until the server's final result and keeps every entry): it stops at the second entry
//! (two are enough to tell "one" from "more than one"; `sizelimit` is only a request), once
//! the entries have brought more than [`MAX_SEARCH_BYTES`], or when the deadline has passed
//! after an entry, and then the connection is dropped, whatever the server goes on sending.
//! ldap3 bounds each wait for an entry by what was left of the deadline when the search
//! began, so a server that trickles entries is given up by the deadline plus the time
//! between two of its entries, and one that goes silent after an entry at most one timeout
//! later. What ldap3 buffers of one message before it can be counted is not bounded here
//! (its codec has no limit); the deadline bounds how long a server may send it.

use super::super::slots::{Slot, Slots};
use ldap3::asn1::{StructureTag, PL};
use ldap3::result::{LdapError, LdapResult};
use ldap3::{LdapConn, LdapConnSettings, ResultEntry, Scope, SearchEntry, SearchOptions};
use pop3_plugin_api::debug;
use rustls::ClientConfig;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// LDAP's result code for a wrong password or a DN with no password (RFC 4511).
const INVALID_CREDENTIALS: u32 = 49;

/// The most one search may bring (DNs, attribute names and values): a user's entry with the
/// few attributes asked for is a few hundred bytes, so more is a server that lies.
pub const MAX_SEARCH_BYTES: usize = 64 * 1024;

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

/// Why an operation on a connection failed; the connection is dropped either way.
#[derive(Debug)]
enum Failure {
    Ldap(LdapError),
    /// The operation was given up while the server was still answering (a search that
    /// brought too much, or too late).
    GivenUp(String),
}

impl From<LdapError> for Failure {
    fn from(err: LdapError) -> Self {
        Self::Ldap(err)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ldap(err) => write!(f, "{err}"),
            Self::GivenUp(why) => write!(f, "{why}"),
        }
    }
}

/// Errors that say the connection is gone, rather than slow or refused.
fn is_broken(err: &Failure) -> bool {
    matches!(
        err,
        Failure::Ldap(
            LdapError::Io { .. }
                | LdapError::OpSend { .. }
                | LdapError::ResultRecv { .. }
                | LdapError::EndOfStream
        )
    )
}

/// The bytes an entry brought: its values and a little for each element, so that a flood
/// of empty elements counts too.
fn size(tag: &StructureTag) -> usize {
    2 + match &tag.payload {
        PL::P(bytes) => bytes.len(),
        PL::C(tags) => tags.iter().map(size).sum(),
    }
}

impl Lease<'_> {
    /// Runs `op` on the leased connection, connecting first when there is none. A kept
    /// connection found broken is replaced once; a connection that failed otherwise is dropped.
    fn run<T>(
        &mut self,
        what: &str,
        mut op: impl FnMut(&mut Connection, Instant) -> Result<T, Failure>,
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
            Ok(connection
                .ldap
                .with_timeout(left(deadline))
                .simple_bind(dn, password)?)
        })?;
        match result.rc {
            0 => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            _ => Err(refused("bind", &result)),
        }
    }

    /// The one entry under `base` that `filter` matches, with `attrs`: `None` when none
    /// does; more than one is an error (the filter does not single out a user), as is a
    /// search that brings more than [`MAX_SEARCH_BYTES`] or ends after the deadline. Searches
    /// as the service (or anonymously without a service bind).
    pub fn find(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Option<SearchEntry>, String> {
        let service = &self.pool.server.service;
        let (entry, result) = self.run("search", |connection, deadline| {
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
            let mut stream = connection
                .ldap
                .with_timeout(left(deadline))
                .with_search_options(SearchOptions::new().sizelimit(2))
                .streaming_search(base, Scope::Subtree, filter, attrs.to_vec())?;
            let mut found: Option<ResultEntry> = None;
            let mut received = 0;
            while let Some(entry) = stream.next()? {
                received += size(&entry.0);
                if received > MAX_SEARCH_BYTES {
                    return Err(Failure::GivenUp(format!(
                        "the search brought more than {MAX_SEARCH_BYTES} bytes"
                    )));
                }
                // Search references (referrals to other servers) are not followed.
                if !entry.is_ref() && !entry.is_intermediate() && found.replace(entry).is_some() {
                    return Err(Failure::GivenUp(format!(
                        "more than one entry under {base} matches {filter}"
                    )));
                }
                if Instant::now() >= deadline {
                    return Err(Failure::GivenUp(
                        "the search did not end by the deadline".to_string(),
                    ));
                }
            }
            Ok((found, stream.result()))
        })?;
        // Anything but success (a size limit exceeded with one entry sent included) leaves
        // the match unsure.
        if result.rc != 0 {
            return Err(refused(&format!("search {filter} under {base}"), &result));
        }
        Ok(entry.map(SearchEntry::construct))
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
