//! The password field of a passwd-file line: `{SCHEME}value`, or a bare `$id$` crypt hash (as
//! Dovecot reads it with its default CRYPT scheme), or empty (the user cannot log in).

use crate::crypt::{CryptHash, CryptKind};
use crate::digest_schemes::DigestHash;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A user's stored secret, ready to check a password against.
#[derive(Clone, Debug)]
pub enum Credential {
    /// `{PLAIN}`/`{CLEARTEXT}`: the password itself, which also allows APOP. Never empty: an
    /// empty value is [`Credential::Disabled`].
    Plain(String),
    Crypt(CryptHash),
    Digest(DigestHash),
    /// An empty password field, or `{PLAIN}` with nothing after it: no password matches (an
    /// empty password would otherwise match it, and APOP with the digest of the timestamp
    /// alone).
    Disabled,
}

impl Credential {
    /// Parses a password field. Errors name the scheme but never quote the secret.
    pub fn parse(field: &str) -> Result<Self, String> {
        if field.is_empty() {
            return Ok(Self::Disabled);
        }
        let Some((scheme, value)) = field
            .strip_prefix('{')
            .and_then(|rest| rest.split_once('}'))
        else {
            return match CryptKind::of(field) {
                Some(_) => CryptHash::parse(field).map(Self::Crypt),
                None => Err(
                    "the password has no {SCHEME} prefix and is not a $id$ crypt hash".to_string(),
                ),
            };
        };
        let scheme = scheme.to_ascii_uppercase();
        let crypt_kinds: &[CryptKind] = match scheme.as_str() {
            "PLAIN" | "CLEARTEXT" if value.is_empty() => return Ok(Self::Disabled),
            "PLAIN" | "CLEARTEXT" => return Ok(Self::Plain(value.to_string())),
            // What libc crypt(3) understands.
            "CRYPT" => &[
                CryptKind::Md5,
                CryptKind::Sha256,
                CryptKind::Sha512,
                CryptKind::Bcrypt,
            ],
            // Dovecot's {MD5} is MD5-crypt, not a plain MD5 digest.
            "MD5-CRYPT" | "MD5" => &[CryptKind::Md5],
            "SHA256-CRYPT" => &[CryptKind::Sha256],
            "SHA512-CRYPT" => &[CryptKind::Sha512],
            "BLF-CRYPT" => &[CryptKind::Bcrypt],
            "ARGON2I" => &[CryptKind::Argon2i],
            "ARGON2ID" => &[CryptKind::Argon2id],
            _ => {
                return DigestHash::parse(&scheme, value)
                    .unwrap_or_else(|| Err(format!("unsupported password scheme {{{scheme}}}")))
                    .map(Self::Digest)
            }
        };
        let hash = CryptHash::parse(value).map_err(|e| format!("{{{scheme}}}: {e}"))?;
        if !crypt_kinds.contains(&hash.kind()) {
            return Err(format!(
                "{{{scheme}}} does not accept a {} hash",
                hash.kind().scheme()
            ));
        }
        Ok(Self::Crypt(hash))
    }

    /// Whether `password` matches, in time that does not depend on where they differ.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            // Comparing digests hides the length of the stored password too.
            Self::Plain(secret) => Sha256::digest(password.as_bytes())
                .ct_eq(&Sha256::digest(secret.as_bytes()))
                .into(),
            Self::Crypt(hash) => hash.verify(password),
            Self::Digest(hash) => hash.verify(password),
            Self::Disabled => false,
        }
    }

    /// The stored password when the scheme keeps it, which APOP needs.
    pub fn plaintext(&self) -> Option<&str> {
        match self {
            Self::Plain(secret) => Some(secret),
            _ => None,
        }
    }

    /// What identifies the stored secret, `(kind, bytes, more bytes)`: the authentication
    /// cache binds a remembered success to it, so that a changed credential is not found.
    pub(crate) fn stored_parts(&self) -> (&'static str, &[u8], &[u8]) {
        match self {
            Self::Plain(secret) => ("plain", secret.as_bytes(), b""),
            Self::Crypt(hash) => ("crypt", hash.as_str().as_bytes(), b""),
            Self::Digest(hash) => {
                let (digest, salt) = hash.digest_and_salt();
                (hash.scheme(), digest, salt)
            }
            Self::Disabled => ("disabled", b"", b""),
        }
    }

    /// Credentials of equal cost class take equal time to verify; `None` for those that are
    /// never verified.
    pub fn cost_class(&self) -> Option<&str> {
        match self {
            Self::Plain(_) => Some("PLAIN"),
            Self::Crypt(hash) => Some(hash.settings()),
            Self::Digest(hash) => Some(hash.scheme()),
            Self::Disabled => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA512: &str = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";

    #[test]
    fn each_scheme_name_is_understood() {
        let sha256 = "$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.";
        let md5 = "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/";
        let blf = "$2y$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu";
        let argon2id = "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA";
        for field in [
            "{PLAIN}password".to_string(),
            "{CLEARTEXT}password".to_string(),
            "{plain}password".to_string(),
            format!("{{SHA512-CRYPT}}{SHA512}"),
            format!("{{CRYPT}}{SHA512}"),
            SHA512.to_string(),
            format!("{{SHA256-CRYPT}}{sha256}"),
            format!("{{MD5-CRYPT}}{md5}"),
            format!("{{MD5}}{md5}"),
            md5.to_string(),
            format!("{{BLF-CRYPT}}{blf}"),
            blf.to_string(),
            format!("{{ARGON2ID}}{argon2id}"),
            argon2id.to_string(),
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=".to_string(),
        ] {
            let credential = Credential::parse(&field).unwrap_or_else(|e| panic!("{field}: {e}"));
            assert!(credential.verify("password"), "{field}");
            assert!(!credential.verify("wrong"), "{field}");
        }
    }

    #[test]
    fn only_plain_keeps_the_password() {
        assert_eq!(
            Credential::parse("{PLAIN}a:b").unwrap().plaintext(),
            Some("a:b")
        );
        assert_eq!(Credential::parse(SHA512).unwrap().plaintext(), None);
    }

    #[test]
    fn an_empty_field_disables_the_user() {
        let credential = Credential::parse("").unwrap();
        assert!(!credential.verify("") && credential.cost_class().is_none());
    }

    #[test]
    fn an_empty_plain_value_disables_the_user() {
        for field in ["{PLAIN}", "{CLEARTEXT}", "{plain}"] {
            let credential = Credential::parse(field).unwrap();
            assert!(!credential.verify(""), "{field}");
            assert_eq!(credential.plaintext(), None, "{field}: no APOP");
            assert!(credential.cost_class().is_none(), "{field}");
        }
    }

    #[test]
    fn mismatches_and_unknown_schemes_are_errors_without_the_secret() {
        for field in [
            format!("{{SHA256-CRYPT}}{SHA512}"),
            format!("{{ARGON2ID}}{SHA512}"),
            "{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6"
                .to_string(),
            "{SSHA256}!!!!".to_string(),
            "hunter2".to_string(),
            "abJnggxhB/yWI".to_string(),
        ] {
            let err = Credential::parse(&field).unwrap_err();
            let secret = field.rsplit('}').next().unwrap();
            assert!(!err.contains(&secret[secret.len() / 2..]), "{field}: {err}");
        }
    }
}
