//! Reading the maildir's control files (`dovecot-uidlist`, `pop3host-sizes`) within a bound.
//!
//! Both are written by programs the mail user can imitate, so their size is hostile: a
//! multi-gigabyte file, or one that grows while it is read, would otherwise be read into
//! memory whole. A file larger than what a maildir of this many messages needs is ignored
//! (both are optional: UIDLs then come from the file names, sizes are measured again).

use crate::fs_at::Dir;
use std::io::{self, ErrorKind, Read};

/// Room for the header and the records of messages delivered since the listing.
const BASE_ALLOWANCE: u64 = 1 << 20;
/// Per message: a record is a number or two, a few fields and a file name (at most 255).
const PER_MESSAGE: u64 = 1024;
/// Never more than this, whatever the maildir.
const HARD_CAP: u64 = 128 << 20;

/// The largest control file a maildir of `messages` messages may have.
pub fn limit_for(messages: usize) -> u64 {
    let messages = u64::try_from(messages).unwrap_or(u64::MAX);
    BASE_ALLOWANCE
        .saturating_add(messages.saturating_mul(PER_MESSAGE))
        .min(HARD_CAP)
}

/// What reading a control file found.
#[derive(Debug)]
pub enum Contents {
    Missing,
    Read(Vec<u8>),
}

/// Reads the regular file `name` of `dir` if it holds at most `limit` bytes. Larger (or
/// growing past it while read), a symlink or a special file: an error saying so.
pub fn read(dir: &Dir, name: &str, limit: u64) -> io::Result<Contents> {
    let (file, len) = match dir.open_file(name) {
        Ok(opened) => opened,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Contents::Missing),
        Err(err) => return Err(err),
    };
    let too_large = || io::Error::other(format!("larger than the {limit} bytes allowed here"));
    if len > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(Contents::Read(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_limit_grows_with_the_maildir_up_to_a_cap() {
        assert_eq!(limit_for(0), BASE_ALLOWANCE);
        assert_eq!(limit_for(1000), BASE_ALLOWANCE + 1000 * PER_MESSAGE);
        assert_eq!(limit_for(usize::MAX), HARD_CAP);
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("small"), "12345").unwrap();
        let dir = Dir::open_root(tmp.path()).unwrap();
        assert!(matches!(read(&dir, "small", 5).unwrap(), Contents::Read(b) if b == b"12345"));
        assert!(read(&dir, "small", 4)
            .unwrap_err()
            .to_string()
            .contains("larger"));
        assert!(matches!(read(&dir, "none", 4).unwrap(), Contents::Missing));
    }
}
