//! RETR and TOP: the message streamed from the plugin, one chunk read ahead, through the
//! encoder to the client, checked against its listed size; then the prefetch of the next.
//!
//! What a RETR costs the server per message (`bench/retr_cpu.py` measures it; a maildir of
//! ~230 kB messages): half a blocking call, which opens the message and reads it whole into a
//! reused buffer (`read_ahead`, `buffers`) together with the next one (`prefetch::Reserved`),
//! one pass of the encoder that copies it into the output with CRLF and dot-stuffing while it
//! counts the size (no second scan), and one write of that output. What is left is the
//! kernel's two copies (page cache to buffer, output to socket), the encoder's one copy and
//! scan, and the wake-ups of the hand-off to the pool; the maildir plugin opens each message
//! once (the `retrieve` a prefetched RETR still owes it gets a reader that is dropped unread
//! and opens nothing: `deferred_open` there). README "Performance" has the figures
//! (`python3 bench/retr_cpu.py --build old=DIR --build ... --runs 15` as root, on a machine
//! whose other load moves single runs by ±20% and more).
//!
//! No separate path for a message already in wire form (CRLF line ends, no line starting with
//! `.`), decided on the profile: `sendfile`/`splice` would need a file descriptor, and the
//! plugin API hands over bytes (a plugin's source may be a database or a socket), so such a
//! path could only skip the encoder's copy into the output (writing the read buffer itself;
//! the scan for line starts stays), 6 to 8% of the server's CPU in the profiles, and only for
//! messages stored with CRLF. Maildirs store LF
//! (Dovecot's and Postfix's delivery both do; so does the benchmark corpus), where every line
//! needs its CR and the path would never be taken: a second way to send a message, with its
//! own checks of the listed size, for a gain most deployments never see.

use super::driver::{Driver, Flow};
use super::WRITE_AT;
use crate::protocol::body::BodyEncoder;
use crate::protocol::{reply, uidl};
use crate::session::Transfer;
use std::io;

/// Message octets encoded at a time: the encoded form of a slice is at most twice as long
/// (every line end may gain a CR, every line a stuffed dot).
pub const ENCODE_SLICE: usize = 64 * 1024;
/// The CRLF the host adds to an unterminated last line, which [`BodyEncoder::size`] counts
/// and a listed size may leave out (Dovecot's `W=` size, and so the maildir plugin's, does):
/// a stream counts as running past its size only beyond it.
const ADDED_LINE_END: u64 = 2;

impl Driver {
    /// RETR and TOP: opens the message, then streams it through the encoder.
    pub(super) async fn transfer(&mut self, transfer: Transfer) -> io::Result<Flow> {
        let after = self.after(&transfer);
        let Some(mailbox) = self.mailbox.as_mut() else {
            return Ok(Flow::Close);
        };
        let budget = &self.shared.prefetch_budget;
        let mut message = match mailbox.open(&transfer, after, budget).await {
            Ok(message) => message,
            Err(error) => {
                reply::err(&mut self.out, &error);
                return Ok(if mailbox.is_lost() {
                    Flow::Close
                } else {
                    Flow::Continue
                });
            }
        };
        transfer.ok_line(&mut self.out);
        if transfer.top.is_none() {
            // A message read whole in its first chunk has given the mailbox back already: the
            // next one is read while this one is encoded and sent, and is ready when the
            // client asks, without a wake-up of this task by the pool. (A longer message still
            // holds the mailbox; its next one is started after the terminator.)
            self.start_prefetch(&transfer);
        }
        // The listed size is what the plugin promised and the `+OK` line announced.
        let mut encoder = transfer
            .top
            .map_or_else(BodyEncoder::whole, BodyEncoder::top);
        // Octets of the message on the wire, for the session's summary.
        let mut sent = 0;
        while !encoder.is_done() {
            let chunk = match message.next().await {
                Ok([]) if encoder.size() < transfer.size => {
                    self.size_lie(&transfer, encoder.size(), "ended short of");
                    return Ok(Flow::Close);
                }
                Ok([]) => break,
                Ok(chunk) => chunk,
                Err(_) => {
                    // The status line is out: a message cut short can only be signalled by
                    // closing, so the client does not take it for complete.
                    tracing::warn!(
                        number = transfer.index + 1,
                        "message ended early; closing the connection"
                    );
                    return Ok(Flow::Close);
                }
            };
            for slice in chunk.chunks(ENCODE_SLICE) {
                let before = self.out.len();
                encoder.encode(slice, &mut self.out);
                // The encoder counts what it consumed as the listed size counts it (a TOP
                // only the lines it needs): the slice that takes a stream past its size is
                // taken back unsent.
                if encoder.size() > transfer.size + ADDED_LINE_END {
                    self.out.truncate(before);
                    self.size_lie(&transfer, encoder.size(), "ran past");
                    return Ok(Flow::Close);
                }
                sent += self.out.len() - before;
                if self.out.len() >= WRITE_AT {
                    self.flush().await?;
                }
            }
        }
        let before = self.out.len();
        encoder.finish(&mut self.out);
        sent += self.out.len() - before;
        self.summary.sent(transfer.top.is_some(), sent as u64);
        if transfer.top.is_none() {
            self.start_prefetch(&transfer);
        }
        Ok(Flow::Continue)
    }

    /// A message stream that does not match its listed size: the `+OK` line told the client
    /// that size, so the message cannot end with `.` as if it were complete. A short one is
    /// cut; one that runs past the size is stopped before the octets beyond it, which bounds
    /// a stream that never ends. Either way the connection closes and the client, seeing no
    /// terminator, keeps nothing and may try again.
    fn size_lie(&self, transfer: &Transfer, read: u64, what: &str) {
        tracing::warn!(
            plugin = self.service.plugin.name,
            number = transfer.index + 1,
            uidl = %uidl::from_id(&transfer.id),
            listed = transfer.size,
            read,
            "the message stream {what} its listed size; closing the connection"
        );
    }

    /// For a RETR whose message is read (or being sent): starts reading the message a client
    /// downloading in order asks for next, if the plugin allows prefetch.
    fn start_prefetch(&mut self, retrieved: &Transfer) {
        let (Some(mailbox), true) = (self.mailbox.as_mut(), self.service.prefetch) else {
            return;
        };
        if let Some(next) = self.session.next_retrieve(retrieved.index) {
            let after = self.session.next_retrieve(next.index);
            mailbox.start_prefetch(next, after, &self.shared.prefetch_budget);
        }
    }

    /// For a RETR, where the plugin allows prefetch: the message a client downloading in order
    /// asks for next, which the blocking call that reads this one may read too.
    fn after(&self, transfer: &Transfer) -> Option<Transfer> {
        let read_ahead = transfer.top.is_none() && self.service.prefetch;
        read_ahead
            .then(|| self.session.next_retrieve(transfer.index))
            .flatten()
    }
}
