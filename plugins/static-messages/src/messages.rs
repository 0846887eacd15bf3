//! One message of a static maildrop: its id, its size as the host sends it, and where its
//! bytes come from. Sizes are fixed when the maildrop is built, so LIST never reads a message.

use crate::generated::Generated;
use pop3_plugin_api::MessageReader;
use pop3_plugin_api::SizeCounter;
use std::io::{self, Cursor};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a message's bytes come from.
pub enum Source {
    /// Held in memory: the built-in corpus and inline `text`. Shared, so that a retrieve only
    /// clones a pointer.
    Inline(Arc<[u8]>),
    /// A file opened at each retrieve, so that tests can serve bytes that JSON cannot carry.
    File(PathBuf),
    /// Made on the fly, never held whole in memory.
    Generated(Generated),
}

impl Source {
    /// The size as sent (see [`crlf_size`]). Reads a file whole, once, at startup.
    fn measure(&self) -> io::Result<u64> {
        Ok(match self {
            Source::Inline(bytes) => crlf_size(bytes),
            Source::File(path) => crlf_size(&std::fs::read(path).map_err(|err| {
                io::Error::new(err.kind(), format!("cannot read {}: {err}", path.display()))
            })?),
            Source::Generated(generated) => generated.size(),
        })
    }

    /// A reader of the raw bytes; the host normalises line ends and dot-stuffs.
    pub fn open(&self) -> io::Result<MessageReader> {
        Ok(match self {
            Source::Inline(bytes) => Box::new(Cursor::new(Arc::clone(bytes))),
            Source::File(path) => Box::new(std::fs::File::open(path)?),
            Source::Generated(generated) => Box::new(generated.open()),
        })
    }
}

pub struct Message {
    /// Served as the UIDL when it is valid UIDL syntax (the host hashes it otherwise).
    pub id: String,
    /// Octets as sent, before dot-stuffing.
    pub size: u64,
    pub source: Source,
}

impl Message {
    /// Measures `source` once; fails only when a file cannot be read.
    pub fn new(id: String, source: Source) -> io::Result<Self> {
        Ok(Self {
            size: source.measure()?,
            id,
            source,
        })
    }
}

/// The octets of `message` as the host sends them, before dot-stuffing: every bare LF becomes
/// CRLF, and an unterminated last line gets a line end (only the LF when it already ends in
/// CR, as the host's encoder does). A bare CR inside a line is data. An empty message stays 0.
pub fn crlf_size(message: &[u8]) -> u64 {
    let mut counter = SizeCounter::default();
    counter.add(message);
    counter.total()
}

/// The host's line-end rules spelled out on whole messages, as a reference for the sizes.
#[cfg(test)]
pub fn crlf_normalise(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 2);
    for (i, &b) in message.iter().enumerate() {
        if b == b'\n' && (i == 0 || message[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    match out.last() {
        None | Some(b'\n') => {}
        Some(b'\r') => out.push(b'\n'),
        Some(_) => out.extend_from_slice(b"\r\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn crlf_size_examples() {
        assert_eq!(crlf_size(b""), 0);
        assert_eq!(crlf_size(b"a"), 3);
        assert_eq!(crlf_size(b"a\r\n"), 3);
        assert_eq!(crlf_size(b"a\n"), 3);
        assert_eq!(crlf_size(b"\n\n"), 4);
        assert_eq!(crlf_size(b"a\nb"), 6);
        assert_eq!(crlf_size(b"a\r"), 3);
        assert_eq!(crlf_size(b"a\rb\n"), 5);
    }

    /// Every string of up to 7 symbols over `a`, CR and LF.
    #[test]
    fn crlf_size_matches_the_reference_on_all_short_strings() {
        let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
        let mut start = 0;
        for _ in 0..7 {
            let end = strings.len();
            for i in start..end {
                for &b in b"a\r\n" {
                    let mut longer = strings[i].clone();
                    longer.push(b);
                    strings.push(longer);
                }
            }
            start = end;
        }
        for s in &strings {
            assert_eq!(crlf_size(s), crlf_normalise(s).len() as u64, "{s:?}");
        }
    }

    #[test]
    fn inline_message_is_measured_and_read_back() {
        let bytes: Arc<[u8]> = Arc::from(&b"Subject: x\n\nbody"[..]);
        let msg = Message::new("x".into(), Source::Inline(bytes.clone())).unwrap();
        assert_eq!(msg.size, 20);
        let mut read = Vec::new();
        msg.source.open().unwrap().read_to_end(&mut read).unwrap();
        assert_eq!(read, &bytes[..]);
    }

    #[test]
    fn missing_file_fails_to_measure() {
        let source = Source::File("/nonexistent/static-messages/msg.eml".into());
        let err = Message::new("x".into(), source).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
