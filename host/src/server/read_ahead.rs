//! A message read from the plugin one chunk ahead: while the driver encodes and writes one
//! chunk, the next is read on the blocking pool, so disk (or upstream) and socket overlap.
//! Two buffers of at most [`CHUNK`] octets per transfer, whatever the message size; they come
//! from and go back to [`super::buffers`].

use super::buffers;
use super::calls::{drop_on_pool, Call, PluginCalls};
use super::mailbox::MailboxTurn;
use crate::session::Transfer;
use pop3_plugin_api::host::ReaderHandle;
use pop3_plugin_api::PopError;
use std::sync::Arc;

/// Message octets read per plugin call: large, because each call is a hand-off to the
/// blocking pool and back, whose thread switches cost more than the copying.
pub const CHUNK: usize = 512 * 1024;
const MIN_CHUNK: usize = 4096;

/// The plugin callback that reads message octets, as the log names it.
const READ: &str = "retrieve";

pub struct ReadAhead {
    calls: Arc<PluginCalls>,
    next: NextChunk,
    /// The chunk last returned; its buffer takes the read after the next one. Empty before
    /// the first chunk.
    current: Vec<u8>,
    /// Octets read per call ([`ReadAhead::buffer_len`]); a reused buffer may be longer.
    chunk: usize,
}

enum NextChunk {
    /// Read already: the first chunk comes with opening the message.
    Ready(FilledChunk),
    Reading(Call<(), FilledChunk>),
    End,
}

/// A plugin's message reader with its mailbox's turn, which it gives back when dropped (after
/// the plugin's reader: fields drop in order).
pub struct OpenMessage {
    reader: ReaderHandle,
    _turn: MailboxTurn,
}

impl OpenMessage {
    pub fn new(reader: ReaderHandle, turn: MailboxTurn) -> Self {
        Self {
            reader,
            _turn: turn,
        }
    }

    /// Fills the first `chunk` octets of `buf` (which has at least that many) as far as the
    /// message goes: reading on to the end in the same blocking call saves the hand-off that
    /// would only learn that the message has ended.
    pub fn fill(mut self, mut buf: Vec<u8>, chunk: usize) -> Result<FilledChunk, PopError> {
        let mut filled = 0;
        while filled < chunk {
            match self.reader.read(&mut buf[filled..chunk])? {
                0 => return Ok((None, buf, filled)),
                n => filled += n,
            }
        }
        Ok((Some(self), buf, filled))
    }
}

/// A finished read: the message back (`None` at its end, where it is dropped), the buffer and
/// how much of it the read filled.
pub type FilledChunk = (Option<OpenMessage>, Vec<u8>, usize);

impl ReadAhead {
    /// The size of the first buffer for `transfer`'s message, and of the one after it: no
    /// larger than the message needs.
    pub fn buffer_len(transfer: &Transfer) -> usize {
        usize::try_from(transfer.size).map_or(CHUNK, |size| size.clamp(MIN_CHUNK, CHUNK - 1) + 1)
    }

    /// A message whose first chunk is read already, `chunk` octets at a time.
    pub fn from_first(calls: Arc<PluginCalls>, first: FilledChunk, chunk: usize) -> Self {
        Self {
            calls,
            next: NextChunk::Ready(first),
            current: Vec::new(),
            chunk,
        }
    }

    /// The next chunk (empty at the end of the message); the read of the one after starts
    /// before this returns.
    pub async fn next(&mut self) -> Result<&[u8], PopError> {
        let (message, mut buf, n) = match std::mem::replace(&mut self.next, NextChunk::End) {
            NextChunk::End => return Ok(&[]),
            NextChunk::Ready(read) => read,
            NextChunk::Reading(reading) => reading.finish(&self.calls).await.1?,
        };
        std::mem::swap(&mut self.current, &mut buf);
        match message {
            Some(message) => {
                // The second buffer only for a message longer than one chunk.
                if buf.is_empty() {
                    buf = buffers::take(self.chunk);
                }
                let chunk = self.chunk;
                let reading = self
                    .calls
                    .start(READ, (), move |_| message.fill(buf, chunk));
                self.next = NextChunk::Reading(reading.await.started(&self.calls)?);
            }
            None => buffers::give_back(buf),
        }
        Ok(&self.current[..n])
    }
}

impl Drop for ReadAhead {
    /// A transfer that stops early (TOP has its lines, the client left) still owns its reader,
    /// maybe in a read in flight (which its [`Call`] drops when done): it is dropped on the
    /// pool, and gives the mailbox its turn back then. The buffers at hand go back for reuse.
    fn drop(&mut self) {
        if let NextChunk::Ready((message, buf, _)) =
            std::mem::replace(&mut self.next, NextChunk::End)
        {
            if let Some(message) = message {
                drop_on_pool(message);
            }
            buffers::give_back(buf);
        }
        buffers::give_back(std::mem::take(&mut self.current));
    }
}
