//! UIDLs from backend ids (RFC 1939 §7): 1-70 characters in 0x21-0x7E. Clients that leave
//! mail on the server compare UIDLs across sessions, so an id that does not qualify is
//! replaced by a stable hash of it rather than rejected or truncated (truncation could make
//! two ids equal).

use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// The rule (in `pop3_client_codec`, which every client of the workspace checks ids with).
pub fn is_valid(id: &str) -> bool {
    pop3_client_codec::uidl::is_valid(id.as_bytes())
}

/// The UIDL for a backend id: the id itself when valid, else 40 hex digits of its SHA-256.
pub fn from_id(id: &str) -> Cow<'_, str> {
    if is_valid(id) {
        return Cow::Borrowed(id);
    }
    let digest = Sha256::digest(id.as_bytes());
    Cow::Owned(digest[..20].iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_pass_unchanged() {
        assert_eq!(from_id("1234.M5P6.host,S=120"), "1234.M5P6.host,S=120");
        assert_eq!(from_id(&"x".repeat(70)), "x".repeat(70));
    }

    #[test]
    fn invalid_ids_get_a_stable_valid_hash() {
        for id in ["", "with space", "tab\t", "é", &"x".repeat(71)] {
            let uidl = from_id(id);
            assert!(is_valid(&uidl), "{id:?} -> {uidl}");
            assert_eq!(uidl.len(), 40);
            assert_eq!(uidl, from_id(id), "stable");
        }
        assert_ne!(from_id("a b"), from_id("a  b"));
        // A fixed vector, so that a change of hash (which would make every client download
        // its mail again) fails here.
        assert_eq!(
            from_id("with space"),
            "b8b8f25a5fc711caea1cfebfe02359e3ce2b9a8f"
        );
    }
}
