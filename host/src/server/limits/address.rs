//! The client address as limits, delays, logs and the plaintext policy see it.
//!
//! Three rules make one client one client: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what
//! a dual-stack socket or a proxy reports) is that IPv4 address; IPv6 clients are counted per
//! network prefix (a /64 by default), since one host typically owns a whole /64 and could
//! otherwise take a fresh address per connection; and a PROXY header without a client address
//! gives an [`ClientAddress::Unknown`] client, which is never loopback and never trusted.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAddress {
    /// An address in canonical form: never IPv4-mapped IPv6.
    Known(IpAddr),
    /// A PROXY header (v1 `UNKNOWN`, v2 `LOCAL`, `AF_UNIX`, `AF_UNSPEC`) named no client.
    Unknown,
}

/// What per-address limits and login-failure delays count by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// An IPv4 address, or an IPv6 address cut to the configured prefix.
    Network(IpAddr),
    /// Every unknown client together: they cannot be told apart, and counting them under the
    /// proxy's address would let them share the exemption a trusted proxy has. So a flood of
    /// address-less connections only ever crowds out other address-less connections.
    Unknown,
}

impl ClientAddress {
    pub fn known(ip: IpAddr) -> Self {
        Self::Known(ip.to_canonical())
    }

    /// For the plaintext policy: an unknown client is never on loopback.
    pub fn is_loopback(&self) -> bool {
        matches!(self, Self::Known(ip) if ip.is_loopback())
    }

    /// The bucket counted for this client, IPv6 cut to `ipv6_prefix` bits (at most 128).
    pub fn bucket(&self, ipv6_prefix: u8) -> Bucket {
        match *self {
            Self::Known(IpAddr::V6(ip)) => {
                let bits = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                Bucket::Network(IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask)))
            }
            Self::Known(ip) => Bucket::Network(ip),
            Self::Unknown => Bucket::Unknown,
        }
    }
}

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(ip) => ip.fmt(f),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(s: &str) -> ClientAddress {
        ClientAddress::known(s.parse().unwrap())
    }

    #[test]
    fn a_mapped_address_is_its_ipv4_address() {
        assert_eq!(known("::ffff:192.0.2.7"), known("192.0.2.7"));
        assert_eq!(known("::ffff:192.0.2.7").to_string(), "192.0.2.7");
        assert!(known("::ffff:127.0.0.1").is_loopback());
        assert_eq!(
            known("::ffff:192.0.2.7").bucket(64),
            Bucket::Network("192.0.2.7".parse().unwrap())
        );
    }

    #[test]
    fn ipv6_counts_per_prefix() {
        let bucket = |s, prefix| known(s).bucket(prefix);
        assert_eq!(bucket("2001:db8::1", 64), bucket("2001:db8::ffff:2", 64));
        assert_ne!(bucket("2001:db8::1", 64), bucket("2001:db8:0:1::1", 64));
        assert_ne!(bucket("2001:db8::1", 128), bucket("2001:db8::2", 128));
        assert_eq!(bucket("2001:db8::1", 0), bucket("fe80::1", 0));
        assert_eq!(
            bucket("2001:db8:1:2:3:4:5:6", 48),
            Bucket::Network("2001:db8:1::".parse().unwrap())
        );
    }

    #[test]
    fn an_unknown_client_is_never_loopback_and_shares_one_bucket() {
        assert!(!ClientAddress::Unknown.is_loopback());
        assert_eq!(ClientAddress::Unknown.bucket(64), Bucket::Unknown);
        assert_eq!(ClientAddress::Unknown.to_string(), "unknown");
    }
}
