//! UIDLs: what a "leave mail on server" client remembers to know which messages it already has.
//! They must never change for a message, or the client downloads it again.

use crate::uidlist::Record;
use sha2::{Digest, Sha256};

/// RFC 1939 §7: 1 to 70 characters in 0x21..=0x7E.
pub fn is_valid(uidl: &str) -> bool {
    (1..=70).contains(&uidl.len()) && uidl.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// The file-name rule: the base name itself when it is a valid UIDL (as Courier and most
/// maildir POP3 servers serve it), else the first 32 hex digits of its SHA-256, which is just
/// as stable because the base name never changes. `None` means the base name itself, so that
/// a large maildir keeps no second copy of every name.
pub fn from_base_name(base: &str) -> Option<String> {
    if is_valid(base) {
        return None;
    }
    Some(
        Sha256::digest(base.as_bytes())[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// What Dovecot 2.3's POP3 server serves for a message its uidlist knows, with default
/// settings: the `P` (POP3 UIDL) field when the uidlist has one (left by a migration; empty
/// means the base name), else `pop3_uidl_format = %08Xu%08Xv`.
///
/// The case of the hex digits: in Dovecot's var-expand the `X` modifier is `m_str_hex`, which
/// formats with `printf("%llx")` (src/lib/var-expand.c in 2.2 and 2.3 alike), so the digits are
/// lower case despite the upper-case `X` in the format: UID 1 with UIDVALIDITY 1795722265 is
/// `000000016b088c19`. `%08` pads with zeros to 8 digits and never truncates.
/// `None` means the base name itself, as for [`from_base_name`].
pub fn dovecot(record: &Record, uid_validity: u32, base: &str) -> Option<String> {
    match record.pop3_uidl.as_deref() {
        Some("") => from_base_name(base),
        Some(uidl) => Some(uidl.to_string()),
        None => Some(format!("{:08x}{:08x}", record.uid, uid_validity)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uid: u32, pop3_uidl: Option<&str>) -> Record {
        Record {
            uid,
            vsize: None,
            pop3_uidl: pop3_uidl.map(str::to_string),
            pop3_order: None,
        }
    }

    #[test]
    fn valid_base_names_are_served_as_they_are() {
        assert_eq!(from_base_name("1700000000.M1P2.host,S=10"), None);
    }

    #[test]
    fn other_base_names_get_a_stable_valid_hash() {
        let long = "x".repeat(71);
        for base in [long.as_str(), "has space", "ümlaut"] {
            let uidl = from_base_name(base).unwrap();
            assert_eq!(uidl.len(), 32);
            assert!(is_valid(&uidl));
            assert_eq!(Some(uidl), from_base_name(base));
        }
        assert_ne!(from_base_name("has space"), from_base_name("has  space"));
    }

    #[test]
    fn dovecot_format_is_lower_case_hex_of_uid_and_uidvalidity() {
        assert_eq!(
            dovecot(&record(1, None), 1_795_722_265, "b").unwrap(),
            "000000016b088c19"
        );
        assert_eq!(
            dovecot(&record(0xabcdef, None), 0xffff_ffff, "b").unwrap(),
            "00abcdefffffffff"
        );
        assert_eq!(dovecot(&record(1, Some("")), 1, "base.name"), None);
        assert_eq!(
            dovecot(&record(1, Some("UID123-1")), 1, "b").as_deref(),
            Some("UID123-1")
        );
    }
}
