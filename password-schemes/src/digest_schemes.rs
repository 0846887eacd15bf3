//! Dovecot's plain digest schemes: `{SHA}`, `{SHA256}`, `{SHA512}` hold base64 of the digest of
//! the password; the salted `{SSHA}`, `{SSHA256}`, `{SSHA512}` hold base64 of
//! `digest(password + salt) + salt`, the salt being whatever follows the digest.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    fn digest(self, password: &[u8], salt: &[u8]) -> Vec<u8> {
        fn run<D: Digest>(password: &[u8], salt: &[u8]) -> Vec<u8> {
            D::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize()
                .to_vec()
        }
        match self {
            Self::Sha1 => run::<Sha1>(password, salt),
            Self::Sha256 => run::<Sha256>(password, salt),
            Self::Sha512 => run::<Sha512>(password, salt),
        }
    }

    fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

/// Dovecot's scheme names, each with its digest and whether a salt follows the digest.
const SCHEMES: &[(&str, Algorithm, bool)] = &[
    ("SHA", Algorithm::Sha1, false),
    ("SHA1", Algorithm::Sha1, false),
    ("SSHA", Algorithm::Sha1, true),
    ("SHA256", Algorithm::Sha256, false),
    ("SSHA256", Algorithm::Sha256, true),
    ("SHA512", Algorithm::Sha512, false),
    ("SSHA512", Algorithm::Sha512, true),
];

/// A stored digest with its salt (empty for the unsalted schemes).
#[derive(Clone, Debug)]
pub struct DigestHash {
    scheme: &'static str,
    algorithm: Algorithm,
    digest: Vec<u8>,
    salt: Vec<u8>,
}

impl DigestHash {
    /// `None` when `scheme` (upper case) is not one of these schemes; errors never quote `value`.
    pub fn parse(scheme: &str, value: &str) -> Option<Result<Self, String>> {
        let &(scheme, algorithm, salted) = SCHEMES.iter().find(|(name, ..)| *name == scheme)?;
        let checked = || {
            let mut bytes = BASE64
                .decode(value)
                .map_err(|_| format!("{scheme} hash is not valid base64"))?;
            let len = algorithm.output_len();
            let fits = if salted {
                bytes.len() > len
            } else {
                bytes.len() == len
            };
            if !fits {
                return Err(format!("{scheme} hash has the wrong length"));
            }
            let salt = bytes.split_off(len);
            Ok(Self {
                scheme,
                algorithm,
                digest: bytes,
                salt,
            })
        };
        Some(checked())
    }

    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    pub(crate) fn digest_and_salt(&self) -> (&[u8], &[u8]) {
        (&self.digest, &self.salt)
    }

    pub fn verify(&self, password: &str) -> bool {
        self.algorithm
            .digest(password.as_bytes(), &self.salt)
            .ct_eq(&self.digest)
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(scheme: &str, value: &str, password: &str) -> bool {
        DigestHash::parse(scheme, value)
            .unwrap()
            .unwrap()
            .verify(password)
    }

    #[test]
    fn known_vectors() {
        // Python: base64(hashlib.sha1(b"password").digest())
        assert!(check("SHA", "W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password"));
        // Python: base64(hashlib.sha256(b"password" + b"salt").digest() + b"salt")
        assert!(check(
            "SSHA256",
            "eje4XIkY6sGakInA+loqtNzj+QUo3N7sEIsj3fNge5lzYWx0",
            "password"
        ));
        // Python: base64(hashlib.sha512(b"password" + b"NaCl1234").digest() + b"NaCl1234")
        assert!(check(
            "SSHA512",
            "9d1rrpvxvipqMMPa+X+sCw2Pna721xj1w5MEbLt/d9Z31oiZqH9ubDazT3oYF+SRVAyDEbSLUPgEPKGPSlMs4k5hQ2wxMjM0",
            "password"
        ));
        assert!(!check(
            "SSHA256",
            "eje4XIkY6sGakInA+loqtNzj+QUo3N7sEIsj3fNge5lzYWx0",
            "Password"
        ));
    }

    #[test]
    fn salted_and_plain_digests_round_trip() {
        for &(scheme, algorithm, salted) in SCHEMES {
            let salt: &[u8] = if salted { b"\x00\xffsalt" } else { b"" };
            let mut stored = algorithm.digest("pässword".as_bytes(), salt);
            stored.extend_from_slice(salt);
            let value = BASE64.encode(stored);
            assert!(check(scheme, &value, "pässword"), "{scheme}");
            assert!(!check(scheme, &value, "passwörd"), "{scheme}");
        }
    }

    #[test]
    fn bad_values_are_errors_without_the_value() {
        let err = DigestHash::parse("SSHA256", "not base64!")
            .unwrap()
            .unwrap_err();
        assert!(!err.contains("base64!"), "{err}");
        // A salted scheme needs at least one salt byte.
        let unsalted = BASE64.encode(Algorithm::Sha256.digest(b"x", b""));
        assert!(DigestHash::parse("SSHA256", &unsalted).unwrap().is_err());
        assert!(DigestHash::parse("CRAM-MD5", "x").is_none());
    }
}
