//! Hashes in modular crypt format, `$id$...`: MD5-crypt, SHA-256/512-crypt, bcrypt and the
//! Argon2 PHC strings. Each is checked for shape when the passwd-file is read, so that a broken
//! line shows at startup with its line number rather than as a failed login later.
//!
//! A hash also names its own cost (rounds, memory), and whoever can store one (an LDAP user
//! allowed to write their own userPassword) would otherwise choose what each login costs the
//! server: hashes above the caps below are refused when parsed, like a malformed one. The caps
//! keep every default and common choice valid (glibc's, openssl's and Dovecot's defaults,
//! bcrypt cost up to 15, libsodium's moderate Argon2id limits) and bound a verification to
//! about a second of one core and 256 MiB.

use crate::md5_crypt;
// `PasswordVerifier` is password-hash's trait, which sha-crypt implements too.
use argon2::{Argon2, PasswordHash, PasswordVerifier as _};
use sha_crypt::ShaCrypt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptKind {
    Md5,
    Sha256,
    Sha512,
    Bcrypt,
    Argon2i,
    Argon2id,
}

impl CryptKind {
    /// The kind named by the `$id$` a hash starts with.
    pub fn of(hash: &str) -> Option<Self> {
        let id = hash.strip_prefix('$')?.split('$').next()?;
        Some(match id {
            "1" => Self::Md5,
            "5" => Self::Sha256,
            "6" => Self::Sha512,
            "2a" | "2b" | "2y" => Self::Bcrypt,
            "argon2i" => Self::Argon2i,
            "argon2id" => Self::Argon2id,
            _ => return None,
        })
    }

    /// Dovecot's name for the scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Md5 => "MD5-CRYPT",
            Self::Sha256 => "SHA256-CRYPT",
            Self::Sha512 => "SHA512-CRYPT",
            Self::Bcrypt => "BLF-CRYPT",
            Self::Argon2i => "ARGON2I",
            Self::Argon2id => "ARGON2ID",
        }
    }
}

/// The highest bcrypt cost accepted (2^15 rounds; Dovecot's default is 5, PHP's 10).
pub const MAX_BCRYPT_COST: u32 = 15;
/// The most SHA-256/512-crypt rounds accepted (the default of glibc, openssl and Dovecot is
/// 5000; the format allows 999,999,999).
pub const MAX_SHA_CRYPT_ROUNDS: u32 = 1_000_000;
/// The most Argon2 memory accepted, in KiB: 256 MiB (libsodium's moderate limit; Dovecot's
/// and the interactive one are 64 MiB).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// The most Argon2 passes (t) accepted.
pub const MAX_ARGON2_PASSES: u32 = 16;
/// The most Argon2 lanes (p) accepted.
pub const MAX_ARGON2_LANES: u32 = 16;

/// A modular crypt format hash whose shape has been checked.
#[derive(Clone, Debug)]
pub struct CryptHash {
    kind: CryptKind,
    hash: String,
}

/// Characters of crypt's base64 (salts and hashes of MD5/SHA-crypt and bcrypt).
fn all_crypt64(s: &str) -> bool {
    s.bytes().all(md5_crypt::is_hash_char)
}

impl CryptHash {
    /// Checks `hash` and returns it with its kind. Errors never quote the hash.
    pub fn parse(hash: &str) -> Result<Self, String> {
        let kind = CryptKind::of(hash)
            .ok_or("not a $1$, $5$, $6$, $2y$/$2b$/$2a$ or $argon2i(d)$ hash")?;
        let malformed = || format!("malformed {} hash", kind.scheme());
        let fields: Vec<&str> = hash.split('$').skip(2).collect();
        let well_formed = match kind {
            CryptKind::Md5 => {
                matches!(fields[..], [salt, encoded] if all_crypt64(salt) && encoded.len() == md5_crypt::HASH_LEN && all_crypt64(encoded))
            }
            CryptKind::Sha256 | CryptKind::Sha512 => {
                let hash_len = if kind == CryptKind::Sha256 { 43 } else { 86 };
                let (rounds_ok, rest) = match fields.split_first() {
                    Some((rounds, rest)) if rounds.starts_with("rounds=") => {
                        (sha_crypt::Params::from_str(rounds).is_ok(), rest)
                    }
                    _ => (true, &fields[..]),
                };
                rounds_ok
                    && matches!(rest, [salt, encoded] if !salt.contains(['\0', '\n', ':']) && encoded.len() == hash_len && all_crypt64(encoded))
            }
            CryptKind::Bcrypt => {
                matches!(fields[..], [cost, rest] if cost.len() == 2
                    && cost.parse::<u32>().is_ok_and(|c| (4..=31).contains(&c))
                    && rest.len() == 53 && all_crypt64(rest))
            }
            CryptKind::Argon2i | CryptKind::Argon2id => {
                PasswordHash::new(hash).is_ok_and(|parsed| {
                    argon2::Params::try_from(&parsed).is_ok()
                        && parsed.salt.is_some()
                        && parsed.hash.is_some()
                })
            }
        };
        if !well_formed {
            return Err(malformed());
        }
        check_cost(kind, &fields, hash)?;
        Ok(Self {
            kind,
            hash: hash.to_string(),
        })
    }

    pub fn kind(&self) -> CryptKind {
        self.kind
    }

    /// The whole hash, `$id$...`.
    pub(crate) fn as_str(&self) -> &str {
        &self.hash
    }

    /// The hash up to its salt (`$6$rounds=10000$`, `$2y$10$`, `$argon2id$v=19$m=...$`): two
    /// hashes with the same settings cost the same to verify.
    pub fn settings(&self) -> &str {
        if self.kind == CryptKind::Bcrypt {
            return &self.hash[..7];
        }
        let id_end = self.hash[1..].find('$').map_or(self.hash.len(), |i| i + 2);
        let params_len: usize = self.hash[id_end..]
            .split('$')
            .take_while(|field| field.contains('='))
            .map(|field| field.len() + 1)
            .sum();
        &self.hash[..id_end + params_len]
    }

    /// Whether `password` matches; every algorithm compares in constant time.
    pub fn verify(&self, password: &str) -> bool {
        let password = password.as_bytes();
        match self.kind {
            CryptKind::Md5 => match self.hash.split('$').skip(2).collect::<Vec<_>>()[..] {
                [salt, encoded] => md5_crypt::verify(password, salt, encoded),
                _ => false,
            },
            CryptKind::Sha256 | CryptKind::Sha512 => ShaCrypt::default()
                .verify_password(password, self.hash.as_str())
                .is_ok(),
            CryptKind::Bcrypt => bcrypt::verify(password, &self.hash).unwrap_or(false),
            CryptKind::Argon2i | CryptKind::Argon2id => PasswordHash::new(&self.hash)
                .is_ok_and(|parsed| Argon2::default().verify_password(password, &parsed).is_ok()),
        }
    }
}

/// Refuses a well-formed hash whose cost parameters exceed the caps, naming the limit.
fn check_cost(kind: CryptKind, fields: &[&str], hash: &str) -> Result<(), String> {
    let over = |parameter: &str, value: u32, limit: u32| {
        Err(format!(
            "{} hash with {parameter} {value} is above the limit of {limit}",
            kind.scheme()
        ))
    };
    match kind {
        CryptKind::Md5 => Ok(()),
        CryptKind::Sha256 | CryptKind::Sha512 => {
            let rounds = fields
                .first()
                .and_then(|field| field.strip_prefix("rounds="))
                .and_then(|rounds| rounds.parse::<u32>().ok());
            match rounds {
                Some(rounds) if rounds > MAX_SHA_CRYPT_ROUNDS => {
                    over("rounds", rounds, MAX_SHA_CRYPT_ROUNDS)
                }
                _ => Ok(()),
            }
        }
        CryptKind::Bcrypt => match fields.first().and_then(|cost| cost.parse::<u32>().ok()) {
            Some(cost) if cost > MAX_BCRYPT_COST => over("cost", cost, MAX_BCRYPT_COST),
            _ => Ok(()),
        },
        CryptKind::Argon2i | CryptKind::Argon2id => {
            let Some(params) = PasswordHash::new(hash)
                .ok()
                .and_then(|parsed| argon2::Params::try_from(&parsed).ok())
            else {
                return Ok(());
            };
            if params.m_cost() > MAX_ARGON2_MEMORY_KIB {
                over("memory m (KiB)", params.m_cost(), MAX_ARGON2_MEMORY_KIB)
            } else if params.t_cost() > MAX_ARGON2_PASSES {
                over("passes t", params.t_cost(), MAX_ARGON2_PASSES)
            } else if params.p_cost() > MAX_ARGON2_LANES {
                over("lanes p", params.p_cost(), MAX_ARGON2_LANES)
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known vectors from other implementations, each for the password "password".
    const KNOWN: &[(&str, CryptKind)] = &[
        // openssl passwd -1 -salt saltsalt password
        ("$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/", CryptKind::Md5),
        // openssl passwd -5 -salt saltsalt password
        ("$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.", CryptKind::Sha256),
        // openssl passwd -6 -salt saltsalt password
        (
            "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
            CryptKind::Sha512,
        ),
        // openssl passwd -6 -salt 'rounds=10000$abc' password
        (
            "$6$rounds=10000$abc$FFe4rCnk6gyBHccJk6nknLlOomFJouQt7tGsrIqhSxZkckH0EzNRwJ09d5Bu7K6uskj0dHGEn4.JCKbVJC/gR0",
            CryptKind::Sha512,
        ),
        // glibc crypt(3) through Python's crypt.crypt("password", "$2b$05$abcdefghijklmnopqrstuu")
        ("$2b$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu", CryptKind::Bcrypt),
        ("$2y$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu", CryptKind::Bcrypt),
        ("$2a$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu", CryptKind::Bcrypt),
        // libargon2 (the reference C code) through Python's argon2-cffi: `low_level.hash_secret(
        // b"password", b"somesaltsomesalt", time_cost=2, memory_cost=1024, parallelism=1,
        // hash_len=32, type=...)`, small enough to verify quickly in a debug build
        ("$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA", CryptKind::Argon2id),
        ("$argon2i$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$lwfbXCoFcL3IplJiF7JfD/BD6NIUHLAFJiATPggIHk8", CryptKind::Argon2i),
    ];

    #[test]
    fn the_argon2_reference_readme_vector_verifies() {
        // `echo -n password | argon2 somesalt -t 2 -m 16 -p 4 -l 24` (64 MiB: verified once)
        let hash = "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert!(CryptHash::parse(hash).unwrap().verify("password"));
    }

    #[test]
    fn known_vectors_verify() {
        for &(hash, kind) in KNOWN {
            let parsed = CryptHash::parse(hash).unwrap_or_else(|e| panic!("{hash}: {e}"));
            assert_eq!(parsed.kind(), kind);
            assert!(parsed.verify("password"), "{hash}");
            assert!(!parsed.verify("passwore"), "{hash}");
            assert!(!parsed.verify(""), "{hash}");
        }
    }

    #[test]
    fn hashes_made_by_the_crates_verify() {
        use argon2::password_hash::PasswordHasher as _;
        let argon2id = Argon2::default()
            .hash_password(b"s3cret")
            .unwrap()
            .to_string();
        let bcrypt = bcrypt::hash("s3cret", 4).unwrap();
        for hash in [argon2id.as_str(), bcrypt.as_str()] {
            let parsed = CryptHash::parse(hash).unwrap();
            assert!(
                parsed.verify("s3cret") && !parsed.verify("s3cres"),
                "{hash}"
            );
        }
    }

    #[test]
    fn settings_cover_the_cost_parameters() {
        let settings = |h: &str| CryptHash::parse(h).unwrap().settings().to_string();
        assert_eq!(settings(KNOWN[0].0), "$1$");
        assert_eq!(settings(KNOWN[2].0), "$6$");
        assert_eq!(settings(KNOWN[3].0), "$6$rounds=10000$");
        assert_eq!(settings(KNOWN[4].0), "$2b$05$");
        assert_eq!(settings(KNOWN[7].0), "$argon2id$v=19$m=1024,t=2,p=1$");
    }

    #[test]
    fn malformed_hashes_are_refused_without_quoting_them() {
        for hash in [
            "$1$saltsalt$tooShort",
            "$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC",
            "$6$rounds=10$abc$FFe4rCnk6gyBHccJk6nknLlOomFJouQt7tGsrIqhSxZkckH0EzNRwJ09d5Bu7K6uskj0dHGEn4.JCKbVJC/gR0",
            "$2y$99$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu",
            "$2y$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2aw",
            "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ",
            "$7$whatever",
            "plaintext",
        ] {
            let err = CryptHash::parse(hash).unwrap_err();
            assert!(!err.contains(&hash[hash.len() / 2..]), "{err}");
        }
    }

    /// `hash` with its cost parameters replaced: the shape stays valid, only the cost changes.
    fn with_settings(known: usize, from: &str, to: &str) -> String {
        let hash = KNOWN[known].0;
        assert!(hash.contains(from), "{hash}");
        hash.replacen(from, to, 1)
    }

    #[test]
    fn costs_above_the_caps_are_refused_naming_the_limit() {
        for (hash, limit) in [
            (with_settings(4, "$05$", "$16$"), "15"),
            (with_settings(5, "$05$", "$31$"), "15"),
            (
                with_settings(3, "rounds=10000", "rounds=1000001"),
                "1000000",
            ),
            (
                with_settings(3, "rounds=10000", "rounds=999999999"),
                "1000000",
            ),
            (with_settings(1, "$5$", "$5$rounds=2000000$"), "1000000"),
            (with_settings(7, "m=1024", "m=262145"), "262144"),
            (with_settings(7, "m=1024", "m=4194304"), "262144"),
            (with_settings(7, "t=2", "t=4000000000"), "16"),
            (with_settings(8, "t=2", "t=17"), "16"),
            (with_settings(7, "p=1", "p=17"), "16"),
        ] {
            let err = CryptHash::parse(&hash).unwrap_err();
            assert!(
                err.contains("above the limit of") && err.ends_with(limit),
                "{hash}: {err}"
            );
        }
    }

    #[test]
    fn costs_at_the_caps_and_common_defaults_are_accepted() {
        for hash in [
            with_settings(4, "$05$", "$14$"),
            with_settings(4, "$05$", "$15$"),
            with_settings(3, "rounds=10000", "rounds=1000000"),
            with_settings(3, "rounds=10000", "rounds=5000"),
            with_settings(1, "$5$", "$5$rounds=535000$"),
            // libsodium's moderate and interactive limits, RFC 9106's second recommendation.
            with_settings(7, "m=1024,t=2,p=1", "m=262144,t=3,p=1"),
            with_settings(7, "m=1024,t=2,p=1", "m=65536,t=2,p=1"),
            with_settings(8, "m=1024,t=2,p=1", "m=65536,t=3,p=4"),
            with_settings(7, "m=1024,t=2,p=1", "m=262144,t=16,p=16"),
        ] {
            CryptHash::parse(&hash).unwrap_or_else(|e| panic!("{hash}: {e}"));
        }
    }
}
