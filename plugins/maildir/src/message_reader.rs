//! The reader RETR and TOP stream a message file through.
//!
//! A delivered message never changes, so its length at open is its length: the reader yields
//! exactly that many bytes. A file that grows while it is sent (or is an endless file the mail
//! user made) cannot make an endless message, and a file cut short while it is sent is an
//! error, so that the host closes the connection instead of ending the reply with "." as if
//! the client had the whole message.

use std::fs::File;
use std::io::{self, BufReader, Read};

/// Reads of message files go through this buffer size: large enough for few system calls,
/// small enough that memory stays flat whatever the message size.
const READ_BUFFER: usize = 64 * 1024;

pub struct MessageFile {
    inner: BufReader<io::Take<File>>,
    /// Bytes still owed: the length at open minus what was read.
    remaining: u64,
}

impl MessageFile {
    /// Reads `file`, which had `len` bytes when it was opened.
    pub fn new(file: File, len: u64) -> Self {
        Self {
            inner: BufReader::with_capacity(READ_BUFFER, file.take(len)),
            remaining: len,
        }
    }

    fn truncated(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "the message file lost {} bytes while it was read",
                self.remaining
            ),
        )
    }
}

impl Read for MessageFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(self.truncated());
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn opened(dir: &tempfile::TempDir, content: &str) -> (File, u64) {
        let path = dir.path().join("m");
        fs::write(&path, content).unwrap();
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        (file, len)
    }

    #[test]
    fn yields_the_length_at_open_even_if_the_file_grows() {
        let dir = tempfile::tempdir().unwrap();
        let (file, len) = opened(&dir, "hello\n");
        fs::write(dir.path().join("m"), "hello\nand more and more\n").unwrap();
        let mut text = String::new();
        MessageFile::new(file, len)
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello\n");
    }

    #[test]
    fn a_file_cut_short_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (file, len) = opened(&dir, "hello\nworld\n");
        let writer = fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("m"));
        writer.unwrap().set_len(3).unwrap();
        let mut text = Vec::new();
        let err = MessageFile::new(file, len)
            .read_to_end(&mut text)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(text, b"hel");
    }
}
