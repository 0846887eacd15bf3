//! Storing a message for a user, with its size as POP3 sends it (CRLF line endings, a final
//! line ending added), measured by the same counter the host uses, so LIST agrees with RETR.

use crate::db::Param;
use pg::GenericClient;
use pop3_plugin_api::SizeCounter;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

#[derive(Debug)]
pub enum DeliveryError {
    NoSuchUser(String),
    TooLarge(u64),
    Io(io::Error),
    Database(pg::Error),
    /// A wrong `--tls` / `--ca-file`.
    Config(String),
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchUser(user) => write!(f, "no user {user:?}"),
            Self::TooLarge(max) => write!(f, "the message exceeds {max} octets"),
            Self::Io(err) => write!(f, "reading the message: {err}"),
            Self::Database(err) => write!(f, "database: {}", crate::db::with_causes(err)),
            Self::Config(err) => f.write_str(err),
        }
    }
}

impl From<pg::Error> for DeliveryError {
    fn from(err: pg::Error) -> Self {
        Self::Database(err)
    }
}

/// Reads a message of at most `max_size` octets, with its POP3 size.
pub fn read_message(mut input: impl Read, max_size: u64) -> Result<(Vec<u8>, u64), DeliveryError> {
    let mut body = Vec::new();
    (&mut input)
        .take(max_size + 1)
        .read_to_end(&mut body)
        .map_err(DeliveryError::Io)?;
    if body.len() as u64 > max_size {
        return Err(DeliveryError::TooLarge(max_size));
    }
    let size = SizeCounter::size_of(&body);
    Ok((body, size))
}

/// The canonical name of `user`, or `NoSuchUser`.
pub fn canonical_user(db: &mut impl GenericClient, user: &str) -> Result<String, DeliveryError> {
    db.query_opt("SELECT name FROM users WHERE name = lower($1)", &[&user])?
        .map(|row| row.get(0))
        .ok_or_else(|| DeliveryError::NoSuchUser(user.to_string()))
}

/// Stores one message; `uidl` `None` lets the database pick a fresh one. Returns whether it
/// was stored (false: a message with that UIDL is already there, as when an import runs
/// twice).
pub fn store(
    db: &mut impl GenericClient,
    user: &str,
    uidl: Option<&str>,
    body: &[u8],
    size: u64,
) -> Result<bool, DeliveryError> {
    let size = size as i64;
    let stored = match uidl {
        Some(uidl) => db.execute(
            "INSERT INTO messages (user_name, uidl, size, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_name, uidl) DO NOTHING",
            &[&user as Param, &uidl, &size, &body],
        )?,
        None => db.execute(
            "INSERT INTO messages (user_name, size, body) VALUES ($1, $2, $3)",
            &[&user as Param, &size, &body],
        )?,
    };
    Ok(stored == 1)
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub stored: u64,
    pub already_there: u64,
    pub skipped: Vec<String>,
}

/// Imports the messages of a maildir's `cur/` and `new/`, oldest name first, keeping the
/// maildir base names as UIDLs (what the maildir plugin serves in its "filename" mode), so
/// that clients do not download them again. Only regular files; anything else is skipped and
/// named. Running it twice stores nothing twice.
pub fn import_maildir(
    db: &mut impl GenericClient,
    user: &str,
    maildir: &Path,
    max_size: u64,
) -> Result<Imported, DeliveryError> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        for entry in fs::read_dir(maildir.join(sub)).map_err(DeliveryError::Io)? {
            let entry = entry.map_err(DeliveryError::Io)?;
            files.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ));
        }
    }
    files.sort();
    let mut imported = Imported::default();
    for (name, path) in files {
        let regular = fs::symlink_metadata(&path)
            .map(|meta| meta.is_file())
            .unwrap_or(false);
        if !regular || name.starts_with('.') {
            imported.skipped.push(name);
            continue;
        }
        let (body, size) =
            read_message(fs::File::open(&path).map_err(DeliveryError::Io)?, max_size)?;
        let base = name.split(':').next().unwrap_or(&name);
        let uidl =
            (1..=70).contains(&base.len()) && base.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if store(db, user, uidl.then_some(base), &body, size)? {
            imported.stored += 1;
        } else {
            imported.already_there += 1;
        }
    }
    Ok(imported)
}
