//! Files of a maildir, reached only through the maildir's own directories and never through a
//! symlink.
//!
//! Everything below the maildir root is written by the mail user, who may be hostile: a
//! symlink in place of `cur/`, a message, the lock or a control file would otherwise make
//! pop3host read, rename, delete or overwrite what the link points at, and a FIFO or a device
//! would block an open or never end. So the root is opened once (following symlinks: the
//! administrator may have made it one), every name below it is resolved relative to a
//! directory opened before, one component at a time, without following a link, and a file is
//! refused unless it is a regular file. How each platform keeps a directory from being swapped
//! between two calls is in its module: `unix` (`openat` & co. on directory descriptors),
//! `windows` (directory handles that forbid renaming them, reparse points opened as
//! themselves).

#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub use unix::Dir;
#[cfg(windows)]
pub use windows::Dir;

use std::io;

/// The entry types a listing distinguishes (from the directory entry, without opening it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file, or a file system that does not say (the open checks it).
    MaybeFile,
    Directory,
    /// A symlink, junction, FIFO, socket or device: never opened.
    Special(&'static str),
}

/// The error for something that is not what it must be: `InvalidData` (see [`is_refusal`]).
fn refused(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("refused: a {what}"))
}

/// Whether `err` is a refusal of a symlink or special file (rather than a failed call).
pub fn is_refusal(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::InvalidData
}

/// Makes the symlink `link` to the file `target`, for tests of the refusals (on Windows, where
/// a symlink needs a privilege or developer mode, `None` when it cannot be made).
#[cfg(test)]
pub fn symlink_file(target: &std::path::Path, link: &std::path::Path) -> Option<()> {
    #[cfg(unix)]
    let made = std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    let made = std::os::windows::fs::symlink_file(target, link);
    made.map_err(|err| eprintln!("cannot make a symlink: {err}"))
        .ok()
}

/// The entries of `dir`, sorted by name, for tests.
#[cfg(test)]
pub fn listed(dir: &Dir) -> Vec<(String, EntryKind)> {
    let mut seen = Vec::new();
    dir.entries(|name, kind| seen.push((name.unwrap().to_string(), kind)))
        .unwrap();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Read;

    /// What every platform does the same: regular files read with their length, directories
    /// opened, entries listed with their kinds, renames and removals within the maildir.
    #[test]
    fn regular_files_and_directories_are_opened_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("file"), "hello").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let root = Dir::open_root(dir.path()).unwrap();
        let (mut file, len) = root.open_file("file").unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!((text.as_str(), len), ("hello", 5));
        assert!(root.open_file("missing").unwrap_err().kind() == io::ErrorKind::NotFound);
        assert!(root.sub("file").is_err());
        let sub = root.sub("sub").unwrap();
        root.make_sub("sub").unwrap();
        root.make_sub("new").unwrap();
        assert!(root.create_new("file").is_err());
        sub.create_new("made").unwrap();
        sub.rename("made", &root, "moved").unwrap();
        assert_eq!(
            listed(&root),
            [
                ("file".to_string(), EntryKind::MaybeFile),
                ("moved".to_string(), EntryKind::MaybeFile),
                ("new".to_string(), EntryKind::Directory),
                ("sub".to_string(), EntryKind::Directory),
            ]
        );
        root.unlink("moved").unwrap();
        assert!(!dir.path().join("moved").exists());
    }
}
