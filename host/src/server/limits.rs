//! Abuse limits: connections in all and per client address, sessions per user, and a delay
//! before answering a failed login that doubles per failure from the same address, so that
//! guessing passwords is slow. Trusted networks skip the per-address parts. What counts as
//! one address is [`ClientAddress::bucket`]'s rule.
//!
//! Slots are RAII guards: a connection or session gives its slot back however it ends.

mod address;

pub use address::ClientAddress;

use crate::config;
use address::Bucket;
use pop3_plugin_api::{Maildrop, PopError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Failures from an address are forgotten after this long without one.
const QUIET_PERIOD: Duration = Duration::from_secs(600);
/// The first failure's delay; each further one doubles it up to the configured maximum.
const FIRST_DELAY: Duration = Duration::from_secs(1);
/// Past this many addresses with failures, the forgotten ones are dropped.
const PRUNE_ABOVE: usize = 100_000;

/// The live counts the limits are checked against: connections, sessions per maildrop,
/// recent login failures per client address.
pub struct LimitCounters {
    config: config::LimitSettings,
    connections: Mutex<Connections>,
    /// Sessions per maildrop, by the name the backend gives it.
    users: Mutex<HashMap<String, Held>>,
    failures: Mutex<HashMap<Bucket, (u32, Instant)>>,
}

#[derive(Default)]
struct Connections {
    total: usize,
    per_ip: HashMap<Bucket, usize>,
}

/// A held connection slot.
pub struct ConnectionSlot {
    limits: Arc<LimitCounters>,
    /// The bucket counted per address, or `None` for a trusted client.
    ip: Option<Bucket>,
}

/// The sessions open on one maildrop.
#[derive(Default)]
struct Held {
    sessions: usize,
    exclusive: bool,
}

/// A held session slot on one maildrop.
pub struct MaildropSlot {
    limits: Arc<LimitCounters>,
    maildrop: String,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why a connection is refused at admission: the setting whose limit it met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MaxConnections,
    MaxConnectionsPerIp,
}

impl Refusal {
    /// The setting, which names the refusal in logs and metrics.
    pub fn setting(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::MaxConnectionsPerIp => "max_connections_per_ip",
        }
    }

    /// What the client is told.
    pub fn reply(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "Too many connections, try again later.",
            Refusal::MaxConnectionsPerIp => "Too many connections from your address.",
        }
    }
}

impl LimitCounters {
    pub fn new(config: config::LimitSettings) -> Arc<Self> {
        Arc::new(Self {
            config,
            connections: Mutex::default(),
            users: Mutex::default(),
            failures: Mutex::default(),
        })
    }

    /// Whether `client` is in a trusted network; an unknown client never is.
    pub fn is_trusted(&self, client: ClientAddress) -> bool {
        match client {
            ClientAddress::Known(ip) => self.config.trusted.iter().any(|net| net.contains(&ip)),
            ClientAddress::Unknown => false,
        }
    }

    /// What `client` is counted as for the per-address limits, or `None` when trusted.
    fn bucket(&self, client: ClientAddress) -> Option<Bucket> {
        (!self.is_trusted(client)).then(|| client.bucket(self.config.ipv6_prefix_length))
    }

    /// A slot for a new connection from `client`, or why there is none.
    pub fn admit_connection(
        self: &Arc<Self>,
        client: ClientAddress,
    ) -> Result<ConnectionSlot, Refusal> {
        let mut connections = lock(&self.connections);
        if connections.total >= self.config.max_connections {
            return Err(Refusal::MaxConnections);
        }
        let counted = self.bucket(client);
        if let Some(ip) = counted {
            let count = connections.per_ip.entry(ip).or_default();
            if *count >= self.config.max_connections_per_ip {
                return Err(Refusal::MaxConnectionsPerIp);
            }
            *count += 1;
        }
        connections.total += 1;
        Ok(ConnectionSlot {
            limits: self.clone(),
            ip: counted,
        })
    }

    /// A session slot on `maildrop`, unless another session holds it exclusively (RFC 1939
    /// §8: `[IN-USE]`) or it has the most sessions allowed. Held here, in the server, so that
    /// it spans every generation of the plugin across reloads.
    pub fn admit_maildrop(self: &Arc<Self>, maildrop: &Maildrop) -> Result<MaildropSlot, PopError> {
        let (name, exclusive) = match maildrop {
            Maildrop::Exclusive(name) => (name, true),
            Maildrop::Shared(name) => (name, false),
        };
        let mut users = lock(&self.users);
        let held = users.entry(name.clone()).or_default();
        if held.sessions > 0 && (held.exclusive || exclusive) {
            return Err(PopError::in_use(
                "Maildrop already in use by another session.",
            ));
        }
        if held.sessions >= self.config.max_sessions_per_user {
            return Err(PopError::in_use("Too many sessions for this user."));
        }
        held.sessions += 1;
        held.exclusive = exclusive;
        Ok(MaildropSlot {
            limits: self.clone(),
            maildrop: name.clone(),
        })
    }

    /// Records a failed login from `client` and returns how long to wait before answering it.
    pub fn failed_login(&self, client: ClientAddress, now: Instant) -> Duration {
        let Some(bucket) = self.bucket(client) else {
            return Duration::ZERO;
        };
        if self.config.auth_failure_delay_max.is_zero() {
            return Duration::ZERO;
        }
        let mut failures = lock(&self.failures);
        if failures.len() >= PRUNE_ABOVE {
            failures.retain(|_, (_, last)| now.saturating_duration_since(*last) < QUIET_PERIOD);
        }
        let (count, last) = failures.entry(bucket).or_insert((0, now));
        if now.saturating_duration_since(*last) >= QUIET_PERIOD {
            *count = 0;
        }
        *count += 1;
        *last = now;
        let doubled = FIRST_DELAY.saturating_mul(1 << (*count - 1).min(16));
        doubled.min(self.config.auth_failure_delay_max)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut connections = lock(&self.limits.connections);
        connections.total -= 1;
        if let Some(ip) = self.ip {
            if let Some(count) = connections.per_ip.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    connections.per_ip.remove(&ip);
                }
            }
        }
    }
}

impl Drop for MaildropSlot {
    fn drop(&mut self) {
        let mut users = lock(&self.limits.users);
        if let Some(held) = users.get_mut(&self.maildrop) {
            held.sessions -= 1;
            if held.sessions == 0 {
                users.remove(&self.maildrop);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(trusted: &[&str]) -> Arc<LimitCounters> {
        LimitCounters::new(config::LimitSettings {
            trusted: trusted.iter().map(|n| n.parse().unwrap()).collect(),
            max_connections: 4,
            max_connections_per_ip: 2,
            max_sessions_per_user: 1,
            max_auth_failures: 3,
            auth_failure_delay_max: Duration::from_secs(15),
            ipv6_prefix_length: 64,
        })
    }

    fn ip(s: &str) -> ClientAddress {
        ClientAddress::known(s.parse().unwrap())
    }

    #[test]
    fn connections_per_ip_and_in_all() {
        let limits = limits(&["127.0.0.0/8"]);
        let a1 = limits.admit_connection(ip("192.0.2.1")).unwrap();
        let _a2 = limits.admit_connection(ip("192.0.2.1")).unwrap();
        assert!(
            limits.admit_connection(ip("192.0.2.1")).is_err(),
            "per address"
        );
        drop(a1);
        let _a3 = limits.admit_connection(ip("192.0.2.1")).unwrap();
        let _t1 = limits.admit_connection(ip("127.0.0.2")).unwrap();
        let _t2 = limits.admit_connection(ip("127.0.0.1")).unwrap();
        assert_eq!(
            limits.admit_connection(ip("198.51.100.1")).err(),
            Some(Refusal::MaxConnections)
        );
    }

    #[test]
    fn one_client_counts_once_whatever_its_address_form() {
        let limits = limits(&["127.0.0.0/8"]);
        let _v4 = limits.admit_connection(ip("192.0.2.1")).unwrap();
        let _mapped = limits.admit_connection(ip("::ffff:192.0.2.1")).unwrap();
        assert!(limits.admit_connection(ip("192.0.2.1")).is_err(), "mapped");
        let limits = self::limits(&[]);
        let _a = limits.admit_connection(ip("2001:db8::1")).unwrap();
        let _b = limits.admit_connection(ip("2001:db8::2")).unwrap();
        assert!(limits.admit_connection(ip("2001:db8::3")).is_err(), "/64");
        assert!(limits.admit_connection(ip("2001:db8:0:1::1")).is_ok());
    }

    #[test]
    fn unknown_clients_are_never_trusted_and_share_a_bucket() {
        let limits = limits(&["127.0.0.0/8", "::/0", "0.0.0.0/0"]);
        assert!(!limits.is_trusted(ClientAddress::Unknown));
        let _u1 = limits.admit_connection(ClientAddress::Unknown).unwrap();
        let _u2 = limits.admit_connection(ClientAddress::Unknown).unwrap();
        assert!(limits.admit_connection(ClientAddress::Unknown).is_err());
        assert!(limits.admit_connection(ip("192.0.2.1")).is_ok());
        let now = Instant::now();
        assert_eq!(
            limits.failed_login(ClientAddress::Unknown, now).as_secs(),
            1
        );
        assert_eq!(
            limits.failed_login(ClientAddress::Unknown, now).as_secs(),
            2
        );
    }

    #[test]
    fn sessions_per_maildrop_come_back() {
        let limits = limits(&[]);
        let shared = |name: &str| Maildrop::Shared(name.into());
        let slot = limits.admit_maildrop(&shared("alice")).unwrap();
        assert!(limits.admit_maildrop(&shared("alice")).is_err());
        assert!(limits.admit_maildrop(&shared("bob")).is_ok());
        drop(slot);
        assert!(limits.admit_maildrop(&shared("alice")).is_ok());
    }

    #[test]
    fn an_exclusive_maildrop_has_one_session() {
        let mut config = limits(&[]).config.clone();
        config.max_sessions_per_user = 10;
        let limits = LimitCounters::new(config);
        let exclusive = Maildrop::Exclusive("alice".into());
        let slot = limits.admit_maildrop(&exclusive).unwrap();
        let refused = limits.admit_maildrop(&exclusive).err().unwrap();
        assert_eq!(refused.code, pop3_plugin_api::ResponseCode::IN_USE);
        assert!(limits
            .admit_maildrop(&Maildrop::Shared("alice".into()))
            .is_err());
        drop(slot);
        let shared = limits.admit_maildrop(&Maildrop::Shared("alice".into()));
        assert!(shared.is_ok());
        assert!(limits.admit_maildrop(&exclusive).is_err());
    }

    #[test]
    fn failure_delay_doubles_caps_and_is_forgotten() {
        let limits = limits(&["::1/128"]);
        let t0 = Instant::now();
        let delays: Vec<u64> = (0..6)
            .map(|i| {
                limits
                    .failed_login(ip("192.0.2.9"), t0 + Duration::from_secs(i))
                    .as_secs()
            })
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 15, 15]);
        assert_eq!(
            limits.failed_login(ip("192.0.2.10"), t0).as_secs(),
            1,
            "per address"
        );
        assert_eq!(
            limits.failed_login(ip("2001:db8::9"), t0).as_secs(),
            1,
            "IPv6"
        );
        assert_eq!(
            limits.failed_login(ip("2001:db8::a"), t0).as_secs(),
            2,
            "the same /64"
        );
        let later = t0 + Duration::from_secs(6) + QUIET_PERIOD;
        assert_eq!(
            limits.failed_login(ip("192.0.2.9"), later).as_secs(),
            1,
            "forgotten after a quiet period"
        );
        assert_eq!(
            limits.failed_login(ip("::1"), t0),
            Duration::ZERO,
            "trusted"
        );
        assert_eq!(
            limits.failed_login(ip("::ffff:192.0.2.9"), later).as_secs(),
            2,
            "mapped is the IPv4 address"
        );
    }
}
