//! A session's maildir as open directories: the root, `cur/` and `new/`, opened once at login
//! (see [`crate::fs_at`] for why every later call goes through these handles).

use crate::fs_at::Dir;
use crate::listing::Subdir;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Store {
    /// For log lines only; never opened again.
    pub path: PathBuf,
    pub root: Dir,
    cur: Option<Dir>,
    new: Option<Dir>,
}

/// A subdirectory, or `None` when it does not exist (a maildir may lack `new/` or `cur/`).
fn optional_sub(root: &Dir, name: &str) -> io::Result<Option<Dir>> {
    match root.sub(name) {
        Ok(dir) => Ok(Some(dir)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io::Error::new(err.kind(), format!("{name}/: {err}"))),
    }
}

impl Store {
    /// Opens the maildir at `path`, first creating it with `cur/`, `new/` and `tmp/` (private
    /// to the mail user on Unix) when `create` is set. `Ok(None)`: there is no maildir.
    pub fn open(path: &Path, create: bool) -> io::Result<Option<Self>> {
        if create {
            let mut builder = std::fs::DirBuilder::new();
            // On Windows the new directories inherit the rights of the one they are made in.
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.recursive(true).create(path)?;
        }
        let root = match Dir::open_root(path) {
            Ok(root) => root,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        if create {
            for sub in ["cur", "new", "tmp"] {
                root.make_sub(sub)?;
            }
        }
        Ok(Some(Self {
            path: path.to_path_buf(),
            cur: optional_sub(&root, Subdir::Cur.name())?,
            new: optional_sub(&root, Subdir::New.name())?,
            root,
        }))
    }

    /// The open `cur/` or `new/`; `NotFound` when the maildir has none.
    pub fn dir(&self, subdir: Subdir) -> io::Result<&Dir> {
        let dir = match subdir {
            Subdir::Cur => &self.cur,
            Subdir::New => &self.new,
        };
        dir.as_ref()
            .ok_or_else(|| io::Error::new(ErrorKind::NotFound, format!("no {}/", subdir.name())))
    }
}
