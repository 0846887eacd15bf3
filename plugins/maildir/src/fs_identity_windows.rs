//! Windows: every maildir is read and written with the rights of the account pop3host runs as.
//!
//! Windows has no per-thread filesystem uid to take on (impersonating a user needs their
//! password or a token, which a passwd-file does not give), so the account pop3host runs as,
//! a service account with access to the maildirs and nothing more, is the privilege
//! boundary, and a userdb's uid and gid are ignored: a passwd-file or a database moved from
//! a Unix system keeps working. There is no owner check either (`virtual_users` changes
//! nothing): a file's rights on Windows are its ACL, which the mail user cannot widen for the
//! service account beyond what that account may already read. The API is the Unix module's,
//! so the session code is the same on both.

use crate::config::FirstValidIds;
use crate::fs_at::Dir;
use std::io;

/// Whether this process may take on another user's file rights: never on Windows.
pub fn can_switch() -> bool {
    false
}

/// The rights one session's file operations run with: pop3host's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    Own,
}

impl Identity {
    /// pop3host's own rights, whatever ids the userdb gives (see the module doc), so the
    /// first valid ids do not apply either.
    pub fn for_user(
        _ids: Option<(u32, u32)>,
        _switch: bool,
        _first_valid: FirstValidIds,
    ) -> Result<Self, String> {
        Ok(Self::Own)
    }

    /// No owner to check: a Windows file's rights are its ACL (see the module doc). The
    /// signature is the Unix one's.
    pub fn check_store(self, _root: &Dir, _virtual_users: bool) -> io::Result<Result<(), String>> {
        Ok(Ok(()))
    }

    /// Nothing to take on.
    pub fn enter(self) -> io::Result<FsIdGuard> {
        Ok(FsIdGuard)
    }
}

/// Nothing to restore.
#[derive(Debug)]
#[must_use = "the identity lasts as long as the guard"]
pub struct FsIdGuard;
