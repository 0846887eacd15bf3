//! MD5-crypt (`$1$`), Poul-Henning Kamp's algorithm as in glibc and FreeBSD: long obsolete,
//! but old Dovecot and Courier user files still hold it.
//!
//! Written here on RustCrypto's `md-5`, which the other schemes' `digest` version shares:
//! RustCrypto's own `md5-crypt` crate is an empty placeholder (0.1.0), and the crates that do
//! implement it (`md5crypt`, `pwhash`) bring a second MD5 (`md5` 0.8, or pwhash's own set of
//! schemes and dependencies) for an algorithm of some sixty lines, checked below against
//! `openssl passwd -1` and glibc.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// The alphabet of crypt's base64 variant.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// glibc uses at most this many salt characters.
const MAX_SALT: usize = 8;

/// Length of the encoded hash after the salt.
pub const HASH_LEN: usize = 22;

/// Whether `c` may appear in an encoded hash.
pub fn is_hash_char(c: u8) -> bool {
    ITOA64.contains(&c)
}

/// The 22-character encoded MD5-crypt hash of `password` with `salt`.
fn encoded_hash(password: &[u8], salt: &[u8]) -> [u8; HASH_LEN] {
    let salt = &salt[..salt.len().min(MAX_SALT)];
    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();

    let mut ctx = Md5::new()
        .chain_update(password)
        .chain_update(b"$1$")
        .chain_update(salt);
    for chunk_start in (0..password.len()).step_by(16) {
        ctx.update(&alternate[..(password.len() - chunk_start).min(16)]);
    }
    let mut bits = password.len();
    while bits > 0 {
        // The "bug-compatible" quirk of the original: a zero byte or the first password byte.
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut digest = ctx.finalize();

    for round in 0..1000 {
        let mut ctx = Md5::new();
        if round % 2 == 1 {
            ctx.update(password);
        } else {
            ctx.update(digest);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(password);
        }
        if round % 2 == 1 {
            ctx.update(digest);
        } else {
            ctx.update(password);
        }
        digest = ctx.finalize();
    }

    let d = digest;
    let groups = [
        (d[0], d[6], d[12]),
        (d[1], d[7], d[13]),
        (d[2], d[8], d[14]),
        (d[3], d[9], d[15]),
        (d[4], d[10], d[5]),
    ];
    let mut out = [0u8; HASH_LEN];
    let mut pos = 0;
    let mut put = |mut value: u32, chars: usize| {
        for _ in 0..chars {
            out[pos] = ITOA64[(value & 0x3f) as usize];
            value >>= 6;
            pos += 1;
        }
    };
    for (a, b, c) in groups {
        put(u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c), 4);
    }
    put(u32::from(d[11]), 2);
    out
}

/// Whether `password` matches the salt and encoded hash of a `$1$salt$hash` string, compared
/// in constant time.
pub fn verify(password: &[u8], salt: &str, hash: &str) -> bool {
    encoded_hash(password, salt.as_bytes())
        .ct_eq(hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_openssl_passwd_1() {
        // `openssl passwd -1 -salt saltsalt password`
        assert_eq!(
            &encoded_hash(b"password", b"saltsalt"),
            b"qjXMvbEw8oaL.CzflDtaK/"
        );
        // `openssl passwd -1 -salt ab ''`: the empty password
        assert_eq!(&encoded_hash(b"", b"ab"), b"rn6aQS/o7141mj179E/zA.");
        // A password longer than 16 bytes exercises the chunked loop.
        assert_eq!(
            &encoded_hash(b"correct horse battery staple", b"xyz"),
            b"dJfcem.0lF8kWaP50moff/"
        );
        // 8-bit: UTF-8 "pässword" (Python's crypt.crypt, glibc)
        assert_eq!(
            &encoded_hash("pässword".as_bytes(), b"saltsalt"),
            b"QgbQ7EUpcKNQTLgSVL4qr/"
        );
    }

    #[test]
    fn long_salts_use_eight_characters() {
        assert_eq!(
            encoded_hash(b"pw", b"12345678"),
            encoded_hash(b"pw", b"123456789abc")
        );
    }

    #[test]
    fn verify_compares_the_encoded_hash() {
        assert!(verify(b"password", "saltsalt", "qjXMvbEw8oaL.CzflDtaK/"));
        assert!(!verify(b"Password", "saltsalt", "qjXMvbEw8oaL.CzflDtaK/"));
        assert!(!verify(b"password", "saltsalt", "short"));
    }
}
