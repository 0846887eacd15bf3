//! One message of a session's snapshot, and how to reach its file when another client (an IMAP
//! session, a mail filter) renamed it since the listing.

use crate::listing::{self, Location};
use std::io::{self, ErrorKind};
use std::path::Path;

#[derive(Debug)]
pub struct Message {
    pub location: Location,
    /// The UIDL when it is not the base name itself (see [`crate::uidl`]).
    pub uidl: Option<String>,
    /// The CRLF size, when known without reading the file.
    pub size: Option<u64>,
}

impl Message {
    pub fn base(&self) -> &str {
        self.location.base()
    }

    pub fn uidl(&self) -> &str {
        self.uidl.as_deref().unwrap_or(self.base())
    }

    /// Runs `op` on the message file. When the file is not where it was, finds it again by its
    /// base name (one directory read) and retries there; `NotFound` means the message is gone.
    pub fn with_file<T>(
        &mut self,
        maildir: &Path,
        mut op: impl FnMut(&Path) -> io::Result<T>,
    ) -> io::Result<T> {
        match op(&self.location.path(maildir)) {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                let Some(moved) = listing::find(maildir, self.base())? else {
                    return Err(err);
                };
                self.location = moved;
                op(&self.location.path(maildir))
            }
            result => result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::Subdir;
    use std::fs;

    #[test]
    fn a_renamed_file_is_found_again() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("cur")).unwrap();
        fs::write(dir.path().join("cur/1.a.h:2,S"), "body").unwrap();
        let mut message = Message {
            location: Location::new(Subdir::New, "1.a.h".into()),
            uidl: None,
            size: None,
        };
        assert_eq!(
            message
                .with_file(dir.path(), |p| fs::read_to_string(p))
                .unwrap(),
            "body"
        );
        assert_eq!(message.location.name(), "1.a.h:2,S");

        fs::remove_file(dir.path().join("cur/1.a.h:2,S")).unwrap();
        let err = message
            .with_file(dir.path(), |p| fs::read_to_string(p))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}
