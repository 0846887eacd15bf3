//! # password_schemes: the `{SCHEME}value` password fields of Dovecot's passwd-file
//!
//! One implementation for every pop3host backend that stores passwords (the maildir plugin's
//! passwd-file, the postgres plugin's users table), so that a hash accepted by one is accepted
//! by the other and a fix reaches both.
//!
//! Module map: `schemes` (the field and [`Credential`]), `crypt` with `md5_crypt` (modular
//! crypt format hashes), `digest_schemes` (plain and salted SHA digests), `auth_cache` (the
//! optional cache of successful verifications, [`AuthCache`]), `unusable` (logins and
//! passwords refused before any source is asked, [`unusable_login`]).

mod auth_cache;
mod crypt;
mod digest_schemes;
mod md5_crypt;
mod schemes;
mod unusable;

pub use auth_cache::{AuthCache, AuthCacheSettings, Subject, Verdict};
pub use crypt::{CryptHash, CryptKind};
pub use digest_schemes::DigestHash;
pub use schemes::Credential;
pub use unusable::unusable_login;
