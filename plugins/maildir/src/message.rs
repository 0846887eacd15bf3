//! One message of a session's snapshot, and how to reach its file when another client (an IMAP
//! session, a mail filter) renamed it since the listing.

use crate::fs_at::Dir;
use crate::listing::{self, Location};
use crate::store::Store;
use std::io::{self, ErrorKind};

#[derive(Clone, Debug)]
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

    /// Runs `op` on the message file (its directory and name). When the file is not where it
    /// was, finds it again by its base name (one directory read) and retries there;
    /// `NotFound` means the message is gone.
    pub fn with_file<T>(
        &mut self,
        store: &Store,
        mut op: impl FnMut(&Dir, &str) -> io::Result<T>,
    ) -> io::Result<T> {
        let first = store
            .dir(self.location.subdir)
            .and_then(|dir| op(dir, self.location.name()));
        match first {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                let Some(moved) = listing::find(store, self.base())? else {
                    return Err(err);
                };
                self.location = moved;
                op(store.dir(self.location.subdir)?, self.location.name())
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
        fs::create_dir_all(dir.path().join("new")).unwrap();
        fs::write(dir.path().join("cur/1.a.h!2,S"), "body").unwrap();
        let store = Store::open(dir.path(), false).unwrap().unwrap();
        let read = |dir: &Dir, name: &str| {
            let (mut file, _) = dir.open_file(name)?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut file, &mut text).map(|_| text)
        };
        let mut message = Message {
            location: Location::new(Subdir::New, "1.a.h".into()),
            uidl: None,
            size: None,
        };
        assert_eq!(message.with_file(&store, read).unwrap(), "body");
        assert_eq!(message.location.name(), "1.a.h!2,S");

        fs::remove_file(dir.path().join("cur/1.a.h!2,S")).unwrap();
        let err = message.with_file(&store, read).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}
