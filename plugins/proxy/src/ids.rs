//! Message ids as the proxy hands them to the host: valid UIDLs (RFC 1939 §7: 1-70
//! characters in 0x21-0x7E), unique in the maildrop, from the upstream's raw bytes.
//!
//! An upstream id that is not valid becomes 40 hex digits of the SHA-256 of its raw bytes.
//! That is the rule the host applies to an invalid id string, so ids that are UTF-8 keep the
//! UIDL they always had; ids that are not UTF-8 are hashed from their bytes, which the host
//! never sees (it would get them with U+FFFD in place of the bytes, and two different ids
//! could become one).
//!
//! Duplicates (an upstream bug) are disambiguated, not refused: refusing would make the
//! whole maildrop unreachable, while ids unique in the session keep every message
//! reachable and make sure a client never deletes one message for another. The first copy
//! keeps its id (a client that already has that message does not fetch it again); each later
//! copy gets `-<its message number>` added (hashed again if that makes it invalid, and
//! changed further if an upstream id already has that form). Its id then changes when
//! earlier messages are deleted: a client downloads it once more, and loses nothing.

use pop3_client_codec::uidl::is_valid;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// The id for the upstream's raw id bytes: the same when valid, else 40 hex digits of their
/// SHA-256.
pub fn from_raw(raw: &[u8]) -> String {
    if is_valid(raw) {
        // Valid ids are ASCII.
        return String::from_utf8_lossy(raw).into_owned();
    }
    Sha256::digest(raw)[..20]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first id listed more than once, and how many later copies were renamed.
pub struct Duplicates {
    pub first: String,
    pub renamed: usize,
}

/// Renames the later copies of duplicate ids (by position: `ids[i]` is message `i + 1`) so
/// that all are unique; says what it did, if anything.
pub fn make_unique(ids: &mut [String]) -> Option<Duplicates> {
    let mut taken: HashSet<String> = ids.iter().cloned().collect();
    if taken.len() == ids.len() {
        return None;
    }
    let mut first_copies = HashSet::new();
    let mut duplicates: Option<Duplicates> = None;
    for (i, id) in ids.iter_mut().enumerate() {
        if first_copies.insert(id.clone()) {
            continue;
        }
        let base = format!("{id}-{}", i + 1);
        let renamed = (0..)
            .map(|k| match k {
                0 => from_raw(base.as_bytes()),
                k => from_raw(format!("{base}-{k}").as_bytes()),
            })
            .find(|candidate| !taken.contains(candidate))
            .expect("a free id among endless distinct candidates");
        taken.insert(renamed.clone());
        let original = std::mem::replace(id, renamed);
        let found = duplicates.get_or_insert(Duplicates {
            first: original,
            renamed: 0,
        });
        found.renamed += 1;
    }
    duplicates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_pass_and_others_hash_like_the_host() {
        assert_eq!(from_raw(b"1234.M5P6.host,S=120"), "1234.M5P6.host,S=120");
        assert_eq!(from_raw(&[b'x'; 70]), "x".repeat(70));
        // The host's own test vector for an invalid id string (host/src/protocol/uidl.rs).
        assert_eq!(
            from_raw(b"with space"),
            "b8b8f25a5fc711caea1cfebfe02359e3ce2b9a8f"
        );
        for raw in [
            &b""[..],
            b"\xff\xfe",
            b"\xff\xfd",
            &[b'x'; 71],
            b"caf\xc3\xa9",
        ] {
            let id = from_raw(raw);
            assert!(is_valid(id.as_bytes()) && id.len() == 40, "{raw:?} -> {id}");
        }
        assert_ne!(
            from_raw(b"\xff\xfe"),
            from_raw(b"\xff\xfd"),
            "the same text once decoded lossily, different bytes"
        );
    }

    #[test]
    fn later_copies_of_an_id_get_their_number() {
        let mut ids: Vec<String> = ["a", "b", "a", "a-3", "a"].map(String::from).to_vec();
        let duplicates = make_unique(&mut ids).unwrap();
        assert_eq!((duplicates.first.as_str(), duplicates.renamed), ("a", 2));
        assert_eq!(ids, ["a", "b", "a-3-1", "a-3", "a-5"]);
        let mut long = vec!["y".repeat(70), "y".repeat(70)];
        make_unique(&mut long).unwrap();
        assert_eq!(
            long[1],
            from_raw(format!("{}-2", "y".repeat(70)).as_bytes())
        );
        let mut unique: Vec<String> = ["a", "b"].map(String::from).to_vec();
        assert!(make_unique(&mut unique).is_none());
    }
}
