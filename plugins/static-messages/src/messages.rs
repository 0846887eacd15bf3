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
    /// The size as sent (see [`SizeCounter`]). Reads a file whole, once, at startup.
    fn measure(&self) -> io::Result<u64> {
        Ok(match self {
            Source::Inline(bytes) => SizeCounter::size_of(bytes),
            Source::File(path) => SizeCounter::size_of(&std::fs::read(path).map_err(|err| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

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
