//! Reading `new/` and `cur/`: one `readdir` each and no `stat` (the entry type comes with the
//! directory entry on the usual file systems), which keeps a login to a 100,000-message
//! maildir cheap. `tmp/` holds deliveries in progress and is never read.

use crate::filename;
use crate::fs_at::EntryKind;
use crate::store::Store;
use pop3_plugin_api::warn;
use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subdir {
    New,
    Cur,
}

impl Subdir {
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Cur => "cur",
        }
    }
}

/// Where a message file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub subdir: Subdir,
    name: String,
    /// The length of the base name in `name`, found once: sorting and looking up a large
    /// maildir asks for base names millions of times.
    base_len: usize,
}

impl Location {
    pub fn new(subdir: Subdir, name: String) -> Self {
        let base_len = filename::base(&name).len();
        Self {
            subdir,
            name,
            base_len,
        }
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file name up to its info (flags): what stays the same for the life of a message.
    pub fn base(&self) -> &str {
        &self.name[..self.base_len]
    }

    pub fn path(&self, maildir: &Path) -> PathBuf {
        maildir.join(self.subdir.name()).join(&self.name)
    }
}

/// The message files of `subdir`, in directory order; a missing directory holds none.
/// Symlinks, FIFOs, sockets and devices are skipped with a warning: a message is a regular
/// file, and following or opening anything else would let the mail user point pop3host at
/// files outside the maildir or block it.
fn read_subdir(store: &Store, subdir: Subdir) -> io::Result<Vec<Location>> {
    let dir = match store.dir(subdir) {
        Ok(dir) => dir,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut found = Vec::new();
    dir.entries(|name, kind| {
        let shown = || {
            let name = name.map_or_else(|raw| String::from_utf8_lossy(raw), Cow::Borrowed);
            format!("{}/{}/{name:?}", store.path.display(), subdir.name())
        };
        match (name, kind) {
            // Sub-folders (Maildir++ keeps them elsewhere, but people make them) are not
            // messages; an entry whose type the file system does not give is tried, and
            // refused at open if it is not a regular file.
            (_, EntryKind::Directory) => {}
            (Ok(name), _) if !filename::is_message(name) => {}
            (_, EntryKind::Special(what)) => warn!("skipping {}: a {what}, not a message", shown()),
            (Err(_), _) => warn!("skipping {}: the name is not UTF-8", shown()),
            (Ok(name), EntryKind::MaybeFile) => found.push(Location::new(subdir, name.to_string())),
        }
    })?;
    Ok(found)
}

/// Every message in `cur/` and `new/`. A message caught in both (another client moving it
/// between the two reads) is listed once, from `cur/` (read first).
pub fn scan(store: &Store) -> io::Result<Vec<Location>> {
    let mut all = read_subdir(store, Subdir::Cur)?;
    let mut new = read_subdir(store, Subdir::New)?;
    if !all.is_empty() && !new.is_empty() {
        let in_cur: HashSet<&str> = all.iter().map(Location::base).collect();
        new.retain(|l| !in_cur.contains(l.base()));
    }
    all.append(&mut new);
    Ok(all)
}

/// Where the message with base name `base` is now, after another client renamed it (moved it
/// to `cur/` or changed its flags).
pub fn find(store: &Store, base: &str) -> io::Result<Option<Location>> {
    for subdir in [Subdir::Cur, Subdir::New] {
        let found = read_subdir(store, subdir)?;
        if let Some(location) = found.into_iter().find(|l| l.base() == base) {
            return Ok(Some(location));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::fs;

    fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(dir.path(), false).unwrap().unwrap()
    }

    fn maildir_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        for file in files {
            fs::write(dir.path().join(file), "x\n").unwrap();
        }
        dir
    }

    #[test]
    fn scan_skips_tmp_dotfiles_directories_symlinks_and_fifos_and_lists_a_moving_message_once() {
        let dir = maildir_with(&[
            "new/1.a.h",
            "cur/2.b.h:2,S",
            "tmp/3.c.h",
            "new/.4.d.h",
            "cur/5.e.h:2,",
            "new/5.e.h",
        ]);
        fs::create_dir(dir.path().join("cur/folder")).unwrap();
        let outside = dir.path().join("tmp/3.c.h");
        // Where no symlink can be made (Windows without the privilege), none to skip.
        let _ = crate::fs_at::symlink_file(&outside, &dir.path().join("cur/6.f.h"));
        #[cfg(unix)]
        nix::unistd::mkfifo(&dir.path().join("new/7.g.h"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let mut names: Vec<String> = scan(&store(&dir))
            .unwrap()
            .into_iter()
            .map(|l| l.name().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["1.a.h", "2.b.h:2,S", "5.e.h:2,"]);
    }

    #[test]
    fn missing_subdirectories_hold_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(scan(&store(&dir)).unwrap().is_empty());
    }

    #[test]
    fn find_follows_renames() {
        let dir = maildir_with(&["cur/1.a.h:2,RS"]);
        let found = find(&store(&dir), "1.a.h").unwrap().unwrap();
        assert_eq!(found, Location::new(Subdir::Cur, "1.a.h:2,RS".into()));
        assert_eq!(found.base(), "1.a.h");
        assert!(find(&store(&dir), "9.z.h").unwrap().is_none());
    }
}
