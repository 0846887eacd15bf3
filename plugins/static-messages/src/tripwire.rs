//! The `read` fault: a message stream that fails (or panics, or stalls) partway, after the
//! host has started sending the message, which is the hardest place for it to recover.

use crate::faults::{Callback, Faults};
use pop3_plugin_api::MessageReader;
use std::io::{self, Read};
use std::sync::Arc;

/// Octets a message stream delivers before its `read` faults fire: more than the host reads
/// in its first chunk, so that it has already sent part of the message to the client.
pub const READ_FAULT_AFTER: u64 = 1024 * 1024;

/// Wraps a message stream and fires the `read` faults once, after [`READ_FAULT_AFTER`] octets
/// or at the end of a shorter message (so that every message can fail mid-response).
pub struct Tripwire {
    inner: MessageReader,
    /// Octets left before the faults fire; `None` once they have.
    until_fault: Option<u64>,
    faults: Arc<Faults>,
    user: String,
}

impl Tripwire {
    pub fn new(inner: MessageReader, faults: Arc<Faults>, user: String) -> Self {
        Self {
            inner,
            until_fault: Some(READ_FAULT_AFTER),
            faults,
            user,
        }
    }
}

impl Read for Tripwire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(left) = self.until_fault {
            let room = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = if room > 0 {
                self.inner.read(&mut buf[..room])?
            } else {
                0
            };
            if n > 0 {
                self.until_fault = Some(left - n as u64);
                return Ok(n);
            }
            self.until_fault = None;
            self.faults
                .fire(Callback::Read, Some(&self.user))
                // The plugin API unwraps a `PopError` from the `io::Error` whole, code and all.
                .map_err(io::Error::other)?;
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Action, Fault};
    use pop3_plugin_api::{PopError, ResponseCode};
    use std::time::Duration;

    fn tripwire(len: usize, action: Action) -> Tripwire {
        let fault = Fault {
            callback: Callback::Read,
            action,
            user: None,
        };
        let faults = Arc::new(Faults::new(vec![fault]));
        Tripwire::new(
            Box::new(io::Cursor::new(vec![b'x'; len])),
            faults,
            "u".into(),
        )
    }

    #[test]
    fn read_fault_fires_after_a_mebibyte() {
        let mut reader = tripwire(2_000_000, Action::Error(ResponseCode::SYS_PERM));
        let mut buf = vec![0; 10_000];
        let mut total = 0;
        let err = loop {
            match reader.read(&mut buf) {
                Ok(n) => total += n as u64,
                Err(err) => break err,
            }
        };
        assert_eq!(total, READ_FAULT_AFTER);
        assert_eq!(PopError::from(err).code, ResponseCode::SYS_PERM);
    }

    #[test]
    fn every_read_error_code_survives_the_io_error() {
        for code in [
            ResponseCode::SYS_TEMP,
            ResponseCode::SYS_PERM,
            ResponseCode::NONE,
            ResponseCode::IN_USE,
        ] {
            let err = tripwire(10, Action::Error(code))
                .read_to_end(&mut Vec::new())
                .unwrap_err();
            assert_eq!(PopError::from(err).code, code);
        }
    }

    #[test]
    fn read_fault_fires_at_the_end_of_a_short_message() {
        let mut out = Vec::new();
        let mut reader = tripwire(100, Action::Error(ResponseCode::SYS_TEMP));
        assert!(reader.read_to_end(&mut out).is_err());
        assert_eq!(out.len(), 100);
    }

    #[test]
    fn read_delay_fault_delivers_every_byte() {
        let mut out = Vec::new();
        let mut reader = tripwire(70_000, Action::Delay(Duration::from_millis(1)));
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 70_000);
    }
}
