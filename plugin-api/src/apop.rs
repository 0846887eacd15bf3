//! The APOP check (RFC 1939 §7), one place for every backend that keeps a shared secret.

use md5::{Digest, Md5};

/// The lower-case hex MD5 of `timestamp` + `secret`: the digest a client sends with APOP.
pub fn apop_digest(timestamp: &str, secret: &str) -> String {
    Md5::new()
        .chain_update(timestamp)
        .chain_update(secret)
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `digest` (hex, either case) is the APOP digest of `timestamp` and `secret`.
///
/// Takes as long for a user without a secret (`None`, checked against an empty one) as for
/// one with, and compares in constant time, so that neither the existence of a secret nor the
/// length of a matching prefix shows in the reply's timing. An empty secret never matches:
/// its digest is the MD5 of the timestamp alone, which anyone can compute.
pub fn apop_matches(digest: &str, timestamp: &str, secret: Option<&str>) -> bool {
    let expected = apop_digest(timestamp, secret.unwrap_or_default());
    let same = constant_time_eq(expected.as_bytes(), digest.to_ascii_lowercase().as_bytes());
    same && secret.is_some_and(|secret| !secret.is_empty())
}

/// Byte equality that looks at every byte whatever it finds, written by hand rather than with
/// `subtle` for the one comparison this crate makes. `black_box` keeps the optimiser from
/// turning the fold back into an early-exit comparison.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: &str = "<1896.697170952@dbc.mtview.ca.us>";

    #[test]
    fn digest_matches_rfc_1939() {
        assert_eq!(
            apop_digest(STAMP, "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    #[test]
    fn matches_only_the_right_digest_of_a_real_secret() {
        let digest = "c4c9334bac560ecc979e58001b3e22fb";
        assert!(apop_matches(digest, STAMP, Some("tanstaaf")));
        assert!(apop_matches(
            &digest.to_uppercase(),
            STAMP,
            Some("tanstaaf")
        ));
        assert!(!apop_matches(digest, STAMP, Some("other")));
        assert!(!apop_matches(digest, "<2@x>", Some("tanstaaf")));
        assert!(!apop_matches(&digest[..31], STAMP, Some("tanstaaf")));
        // No secret never matches, not even the digest of the empty one it is checked against.
        assert!(!apop_matches(&apop_digest(STAMP, ""), STAMP, None));
        // Nor does an empty secret: its digest is the timestamp's alone.
        assert!(!apop_matches(&apop_digest(STAMP, ""), STAMP, Some("")));
    }
}
