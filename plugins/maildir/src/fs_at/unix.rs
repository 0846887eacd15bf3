//! Unix: the root is opened once and every name below it is resolved by `openat`,
//! `renameat`, `unlinkat` relative to an open directory, with `O_NOFOLLOW`; a directory
//! swapped for a symlink between two calls cannot redirect a later call, which keeps using the
//! directory it opened. Files are opened with `O_NONBLOCK` (an open never waits for a FIFO's
//! writer) and refused unless `fstat` says regular file.
//!
//! Written on rustix's safe `*at` calls rather than a capability crate (cap-std): the few
//! operations a maildir needs fit in this file, and rustix is already in the tree.

use super::{refused, EntryKind};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Flags of every open below the root: never follow, never block, never leak to a child.
const SAFE: OFlags = OFlags::NOFOLLOW
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOCTTY);

/// An open directory.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

/// What a file type is called in logs.
fn describe(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

/// Checks that `fd` is a regular file; returns it as a `File` with its length at this moment.
fn regular(fd: OwnedFd) -> io::Result<(File, u64)> {
    let stat = rfs::fstat(&fd)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => Ok((File::from(fd), u64::try_from(stat.st_size).unwrap_or(0))),
        other => Err(refused(&format!("{}, not a regular file", describe(other)))),
    }
}

/// `ELOOP` from `O_NOFOLLOW` means the name is a symlink: said so in the error.
fn no_symlink(err: rustix::io::Errno) -> io::Error {
    if err == rustix::io::Errno::LOOP {
        refused("symlink, not a regular file")
    } else {
        err.into()
    }
}

impl Dir {
    /// Opens the maildir root named by the configuration; a symlink here is the
    /// administrator's and is followed.
    pub fn open_root(path: &Path) -> io::Result<Self> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        Ok(Self {
            fd: rfs::open(path, flags, Mode::empty())?,
        })
    }

    /// Opens the subdirectory `name`; a symlink or anything else is refused.
    pub fn sub(&self, name: &str) -> io::Result<Self> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | SAFE;
        match rfs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Ok(Self { fd }),
            // With O_DIRECTORY, a symlink (not followed) is ENOTDIR like a file.
            Err(rustix::io::Errno::NOTDIR) => {
                Err(refused("symlink or file where a directory belongs"))
            }
            Err(err) => Err(no_symlink(err)),
        }
    }

    /// Creates the subdirectory `name` (private to the mail user) unless it exists.
    pub fn make_sub(&self, name: &str) -> io::Result<()> {
        match rfs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Opens the regular file `name` for reading, with its length when opened.
    pub fn open_file(&self, name: &str) -> io::Result<(File, u64)> {
        let fd = rfs::openat(&self.fd, name, OFlags::RDONLY | SAFE, Mode::empty())
            .map_err(no_symlink)?;
        regular(fd)
    }

    /// Opens the regular file `name`, creating it (mode 0600) if it is missing. Read-write:
    /// opening a FIFO write-only without a reader fails with a confusing `ENXIO`, read-write
    /// succeeds and the type check refuses it.
    pub fn open_or_create(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::RDWR | OFlags::CREATE | SAFE;
        let fd =
            rfs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600)).map_err(no_symlink)?;
        regular(fd).map(|(file, _)| file)
    }

    /// Creates the file `name` (mode 0600), which must not exist in any form.
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | SAFE;
        let fd = rfs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600))?;
        Ok(File::from(fd))
    }

    /// Renames `from` in this directory to `to` in `target` (which may be this one). A symlink
    /// is renamed as the link itself, never its target.
    pub fn rename(&self, from: &str, target: &Dir, to: &str) -> io::Result<()> {
        Ok(rfs::renameat(&self.fd, from, &target.fd, to)?)
    }

    /// Removes the file `name` (a symlink is removed itself, never its target).
    pub fn unlink(&self, name: &str) -> io::Result<()> {
        Ok(rfs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }

    /// The uid that owns this directory.
    pub fn owner(&self) -> io::Result<u32> {
        Ok(rfs::fstat(&self.fd)?.st_uid)
    }

    /// Calls `each` with the name and kind of every entry but `.` and `..`: one `getdents`
    /// pass, no `stat` (the kind from `readdir`'s `d_type`). Names that are not UTF-8 come as `Err` with the raw bytes.
    pub fn entries(&self, mut each: impl FnMut(Result<&str, &[u8]>, EntryKind)) -> io::Result<()> {
        let mut dir = rfs::Dir::read_from(&self.fd)?;
        while let Some(entry) = dir.read() {
            let entry = entry?;
            let bytes = entry.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let kind = match entry.file_type() {
                FileType::RegularFile | FileType::Unknown => EntryKind::MaybeFile,
                FileType::Directory => EntryKind::Directory,
                other => EntryKind::Special(describe(other)),
            };
            each(std::str::from_utf8(bytes).map_err(|_| bytes), kind);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_and_special_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, "secret").unwrap();
        fs::create_dir(dir.path().join("md")).unwrap();
        let md = dir.path().join("md");
        fs::write(md.join("file"), "hello").unwrap();
        symlink(&secret, md.join("link")).unwrap();
        symlink(dir.path(), md.join("dirlink")).unwrap();
        symlink("/dev/zero", md.join("zero")).unwrap();
        nix::unistd::mkfifo(&md.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();

        let root = Dir::open_root(&md).unwrap();
        for name in ["link", "zero", "fifo", "dirlink"] {
            let err = root.open_file(name).unwrap_err();
            assert!(err.to_string().contains("refused"), "{name}: {err}");
            assert!(root.open_or_create(name).is_err(), "{name}");
            assert!(root.create_new(name).is_err(), "{name}");
        }
        assert!(fs::metadata(md.join("dirlink")).unwrap().is_dir());
        assert!(root
            .sub("dirlink")
            .unwrap_err()
            .to_string()
            .contains("refused"));
        assert!(root.sub("file").is_err());
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");

        assert_eq!(
            super::super::listed(&root),
            [
                ("dirlink".to_string(), EntryKind::Special("symlink")),
                ("fifo".to_string(), EntryKind::Special("FIFO")),
                ("file".to_string(), EntryKind::MaybeFile),
                ("link".to_string(), EntryKind::Special("symlink")),
                ("zero".to_string(), EntryKind::Special("symlink")),
            ]
        );
        // Unlinking and renaming act on the link, never on its target.
        root.rename("link", &root, "moved").unwrap();
        root.unlink("moved").unwrap();
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
    }
}
