//! The host promises one call at a time per mailbox, its readers and their drops included
//! (`pop3_plugin_api::Mailbox`). static-messages is the plugin the host's own tests run on, so
//! it checks that promise: a call that overlaps another on the same mailbox fails with
//! `[SYS/PERM]` (a drop, which cannot fail, only logs) and the log has an error naming it.

use pop3_plugin_api::{MessageReader, PopError};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared by a mailbox and its readers: whether one of them is in a call now.
#[derive(Clone, Default)]
pub struct OneCall(Arc<AtomicBool>);

/// A call in progress; the next may start when this is dropped.
pub struct InCall(Arc<AtomicBool>);

impl OneCall {
    pub fn enter(&self, callback: &str) -> Result<InCall, PopError> {
        if self.0.swap(true, Ordering::AcqRel) {
            let problem =
                format!("the host called {callback} while another call on the same mailbox ran");
            pop3_plugin_api::error!("static-messages: {problem}");
            return Err(PopError::permanent(problem));
        }
        Ok(InCall(Arc::clone(&self.0)))
    }

    /// A reader that takes its turn for every read and for its drop.
    pub fn reader(&self, inner: MessageReader) -> MessageReader {
        Box::new(CheckedReader {
            inner,
            turn: self.clone(),
        })
    }
}

impl Drop for InCall {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

struct CheckedReader {
    inner: MessageReader,
    turn: OneCall,
}

impl Read for CheckedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let _call = self.turn.enter("read").map_err(io::Error::other)?;
        self.inner.read(buf)
    }
}

impl Drop for CheckedReader {
    fn drop(&mut self) {
        let _call = self.turn.enter("a reader's drop");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_call_fails_until_the_first_ends() {
        let turn = OneCall::default();
        let first = turn.enter("list").unwrap();
        assert!(turn.enter("retrieve").is_err());
        drop(first);
        assert!(turn.enter("retrieve").is_ok());
    }

    #[test]
    fn a_read_fails_while_the_mailbox_is_in_a_call() {
        let turn = OneCall::default();
        let mut reader = turn.reader(Box::new(io::Cursor::new(b"abc".to_vec())));
        let call = turn.enter("delete").unwrap();
        assert!(reader.read(&mut [0; 3]).is_err());
        drop(call);
        assert_eq!(reader.read(&mut [0; 3]).unwrap(), 3);
    }
}
