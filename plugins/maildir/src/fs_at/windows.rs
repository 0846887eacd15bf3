//! Windows: std has no `openat`, so a directory is a path held together with an open handle
//! that pins it. The handle is opened without `FILE_SHARE_DELETE`, and renaming or deleting
//! a directory needs delete access, which Windows then refuses to everyone: while a session
//! holds the root, `cur/` and `new/`, none of them can be renamed away or deleted and
//! replaced by a junction, so their paths keep naming the directories that were checked. (The
//! handle shares read and write: renaming a file into the directory opens it for writing.)
//! What the pin cannot stop: an emptied directory made a mount point in place
//! (`FSCTL_SET_REPARSE_POINT` needs no delete access), which the path-based opens below it
//! would then follow. Opening relative to the handle (`NtCreateFile` with a root directory)
//! would close that, but needs `unsafe` this crate may not have; the README tells operators
//! not to give mail users file-system write access to their maildirs.
//!
//! The root's path is made canonical once (following links: the administrator's choice) and
//! verbatim (`\\?\C:\...`), so that a name below it is taken as written: `NUL` or `CON` in a
//! maildir is a file, not a device, and a trailing dot or space is not stripped. Every name
//! below the root is opened with `FILE_FLAG_OPEN_REPARSE_POINT` (a symlink or junction is
//! opened as itself, never followed) and refused unless its attributes say a plain file or
//! directory as expected; names that Windows would read as more than one component or as an
//! alternate data stream (`\`, `/`, `:`) are refused before any call.

use super::{refused, EntryKind};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

// Win32 values (winbase.h, winnt.h), which std uses but does not export.
const FILE_SHARE_READ: u32 = 0x1;
const FILE_SHARE_WRITE: u32 = 0x2;
/// Opens a directory (`CreateFileW` refuses directories without it).
const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
/// Opens a symlink or junction itself rather than what it points at.
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
const FILE_ATTRIBUTE_DEVICE: u32 = 0x40;
/// Symlinks, junctions, mount points and other file system filters' files.
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;

/// An open directory: its verbatim path, pinned by a handle (see the module doc).
#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
    _pin: File,
}

/// The kind that a file's attributes say.
fn kind(attributes: u32) -> EntryKind {
    if attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        EntryKind::Special("symlink or junction (reparse point)")
    } else if attributes & FILE_ATTRIBUTE_DEVICE != 0 {
        EntryKind::Special("device")
    } else if attributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
        EntryKind::Directory
    } else {
        EntryKind::MaybeFile
    }
}

fn describe(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::MaybeFile => "regular file",
        EntryKind::Directory => "directory",
        EntryKind::Special(what) => what,
    }
}

/// Opens the directory at `path` and pins it; `follow`: the root's links are followed.
fn pinned(path: PathBuf, follow: bool) -> io::Result<Dir> {
    let flags = if follow {
        FILE_FLAG_BACKUP_SEMANTICS
    } else {
        FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT
    };
    let pin = OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .custom_flags(flags)
        .open(&path)?;
    match kind(pin.metadata()?.file_attributes()) {
        EntryKind::Directory => Ok(Dir { path, _pin: pin }),
        _ if follow => Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        )),
        other => Err(refused(&format!(
            "{} where a directory belongs",
            describe(other)
        ))),
    }
}

/// Checks that `file` is a regular file; returns it with its length at this moment.
fn regular(file: File) -> io::Result<(File, u64)> {
    let meta = file.metadata()?;
    match kind(meta.file_attributes()) {
        EntryKind::MaybeFile => Ok((file, meta.len())),
        other => Err(refused(&format!("{}, not a regular file", describe(other)))),
    }
}

impl Dir {
    /// Opens the maildir root named by the configuration; a symlink here is the
    /// administrator's and is followed.
    pub fn open_root(path: &Path) -> io::Result<Self> {
        pinned(fs::canonicalize(path)?, true)
    }

    /// The path of `name` in this directory: one plain component, or refused.
    fn child(&self, name: &str) -> io::Result<PathBuf> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['\\', '/', ':', '\0']) {
            return Err(refused(&format!("name {name:?} that is not one file name")));
        }
        Ok(self.path.join(name))
    }

    /// Opens the subdirectory `name`; a reparse point or anything else is refused.
    pub fn sub(&self, name: &str) -> io::Result<Self> {
        pinned(self.child(name)?, false)
    }

    /// Creates the subdirectory `name` unless it exists (its rights inherited from the
    /// maildir's, as Windows does).
    pub fn make_sub(&self, name: &str) -> io::Result<()> {
        match fs::create_dir(self.child(name)?) {
            Err(err) if err.kind() != io::ErrorKind::AlreadyExists => Err(err),
            _ => Ok(()),
        }
    }

    /// Opens the regular file `name` for reading, with its length when opened.
    pub fn open_file(&self, name: &str) -> io::Result<(File, u64)> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
            .open(self.child(name)?)?;
        regular(file)
    }

    /// Opens the regular file `name`, creating it if it is missing.
    pub fn open_or_create(&self, name: &str) -> io::Result<File> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
            .open(self.child(name)?)?;
        regular(file).map(|(file, _)| file)
    }

    /// Creates the file `name`, which must not exist in any form (std opens a `create_new`
    /// name as a reparse point itself, so a dangling link counts as existing).
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.child(name)?)
    }

    /// Renames `from` in this directory to `to` in `target` (which may be this one),
    /// replacing a file `to`: std's rename is `MoveFileExW` with `MOVEFILE_REPLACE_EXISTING`,
    /// and where that is refused because `to` is open, a POSIX-semantics rename
    /// (`FileRenameInfoEx`, Windows 10 1607 and later; without it, as under Wine 8, replacing
    /// an open file fails and nothing changes). A symlink is renamed as the link.
    pub fn rename(&self, from: &str, target: &Dir, to: &str) -> io::Result<()> {
        fs::rename(self.child(from)?, target.child(to)?)
    }

    /// Removes the file `name` (a symlink is removed itself, never its target).
    pub fn unlink(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.child(name)?)
    }

    /// Calls `each` with the name and kind of every entry: one `FindFirstFileW` pass, the
    /// attributes coming with each entry. Names that are not valid UTF-16 come as `Err` with
    /// their bytes as std encodes them (WTF-8).
    pub fn entries(&self, mut each: impl FnMut(Result<&str, &[u8]>, EntryKind)) -> io::Result<()> {
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            // From the directory entry on Windows: no open, no extra call.
            let attributes = entry.metadata()?.file_attributes();
            let name = entry.file_name();
            each(
                name.to_str().ok_or(name.as_encoded_bytes()),
                kind(attributes),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn names_of_more_than_one_component_or_a_stream_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let root = Dir::open_root(dir.path()).unwrap();
        for name in [
            "",
            ".",
            "..",
            r"..\file",
            "sub/file",
            "file:stream",
            "file::$DATA",
        ] {
            let err = root.open_file(name).unwrap_err();
            assert!(super::super::is_refusal(&err), "{name:?}: {err}");
            assert!(root.create_new(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn a_pinned_directory_cannot_be_renamed_away() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("cur")).unwrap();
        let root = Dir::open_root(dir.path()).unwrap();
        let cur = root.sub("cur").unwrap();
        assert!(std::fs::rename(dir.path().join("cur"), dir.path().join("gone")).is_err());
        drop(cur);
        std::fs::rename(dir.path().join("cur"), dir.path().join("gone")).unwrap();
    }

    #[test]
    fn a_symlinked_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "secret").unwrap();
        std::fs::create_dir(dir.path().join("md")).unwrap();
        if super::super::symlink_file(&secret, &dir.path().join("md").join("link")).is_none() {
            return;
        }
        let root = Dir::open_root(&dir.path().join("md")).unwrap();
        // Windows refuses the reparse point by name; Wine shows its (Unix) symlinks to a
        // program that opens them as themselves as no file at all.
        let err = root.open_file("link").unwrap_err();
        assert!(
            err.to_string().contains("reparse point") || err.kind() == io::ErrorKind::NotFound,
            "{err}"
        );
        let _ = root
            .open_or_create("link")
            .map(|mut file| file.write_all(b"overwritten"));
        assert!(root.create_new("link").is_err());
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "secret");
    }
}
