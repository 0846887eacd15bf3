//! The UIDL rule (RFC 1939 §7): a unique-id is 1 to 70 characters in 0x21-0x7E. A client
//! checks a server's ids with it; a server (the host, the proxy) uses it to decide which ids
//! it can serve as they are.

/// Whether `id` is a valid UIDL.
pub fn is_valid(id: &[u8]) -> bool {
    (1..=70).contains(&id.len()) && id.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn one_to_seventy_printable_non_space_characters() {
        assert!(is_valid(b"1234.M5P6.host,S=120"));
        assert!(is_valid(b"!"));
        assert!(is_valid(b"~"));
        assert!(is_valid(&[b'x'; 70]));
        for bad in [
            &b""[..],
            &[b'x'; 71],
            b"with space",
            b"tab\t",
            b"\x7f",
            b"caf\xc3\xa9",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }
}
