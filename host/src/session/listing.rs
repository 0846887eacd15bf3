//! Multi-line LIST and UIDL replies (RFC 1939 §5), written in pieces.
//!
//! A listing of a 100,000-message maildrop is megabytes; built whole it would cost a session
//! that much memory for every pipelined LIST or UIDL of a client that does not read. A
//! [`Listing`] is a cursor into the message table instead: each call of [`Listing::write`] appends
//! lines up to a bound, the driver writes them out, and only then asks for more.

use super::message_table::{Message, MessageTable};
use crate::protocol::reply;
use std::fmt::Write as _;

/// A LIST or UIDL being written; the maildrop cannot change until it is done, because the
/// driver runs no other command in between.
#[derive(Debug, PartialEq, Eq)]
pub struct Listing {
    kind: Kind,
    /// Index of the next message to consider.
    next: usize,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Kind {
    /// LIST: `n size`.
    Sizes,
    /// UIDL: `n uidl`.
    Uidls,
}

impl Listing {
    /// Appends the status line and returns the cursor for the lines.
    pub fn start(messages: &MessageTable, kind: Kind, out: &mut Vec<u8>) -> Self {
        let (count, octets) = messages.stat();
        reply::ok(out, &format!("{count} messages ({octets} octets)"));
        Self { kind, next: 0 }
    }

    /// Appends lines until `out` holds at least `bound` octets or the listing is complete,
    /// terminator included. Returns whether lines remain. Each call writes at least one line,
    /// so a listing always ends.
    pub fn write(&mut self, messages: &MessageTable, out: &mut Vec<u8>, bound: usize) -> bool {
        let mut text = String::with_capacity(64);
        for (index, msg) in messages.live_from(self.next) {
            text.clear();
            let _ = write!(text, "{} ", index + 1);
            self.value(msg, &mut text);
            text.push_str("\r\n");
            out.extend_from_slice(text.as_bytes());
            self.next = index + 1;
            if out.len() >= bound {
                return true;
            }
        }
        self.next = usize::MAX;
        out.extend_from_slice(b".\r\n");
        false
    }

    fn value(&self, msg: &Message, text: &mut String) {
        match self.kind {
            Kind::Sizes => {
                let _ = write!(text, "{}", msg.size);
            }
            Kind::Uidls => text.push_str(&msg.uidl),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::MessageNumber;

    fn table(count: usize) -> MessageTable {
        MessageTable::new((0..count).map(|i| (format!("id-{i}"), (i * 37) as u64)))
    }

    /// The whole listing, written with `bound`, the output taken away after every call as the
    /// driver does; also checks that no call overshoots the bound by more than a line.
    fn written(messages: &MessageTable, kind: Kind, bound: usize) -> Vec<u8> {
        let mut wire = Vec::new();
        let mut out = Vec::new();
        let mut listing = Listing::start(messages, kind, &mut out);
        wire.append(&mut out);
        loop {
            let more = listing.write(messages, &mut out, bound);
            let longest_line = 32;
            assert!(
                !more || out.len() < bound + longest_line,
                "{} over {bound}",
                out.len()
            );
            wire.append(&mut out);
            if !more {
                return wire;
            }
        }
    }

    #[test]
    fn the_output_is_the_same_whatever_the_bound() {
        for count in 0..12 {
            let mut drop = table(count);
            if count > 3 {
                drop.mark_deleted(MessageNumber(2)).unwrap();
                drop.mark_deleted(MessageNumber(count as u32)).unwrap();
            }
            for kind in [Kind::Sizes, Kind::Uidls] {
                let whole = written(&drop, kind, usize::MAX);
                for bound in 0..whole.len() + 2 {
                    assert_eq!(
                        written(&drop, kind, bound),
                        whole,
                        "{count} messages, {kind:?}, bound {bound}"
                    );
                }
            }
        }
    }

    #[test]
    fn lines_list_the_live_messages() {
        let mut drop = table(3);
        drop.mark_deleted(MessageNumber(2)).unwrap();
        assert_eq!(
            written(&drop, Kind::Sizes, usize::MAX),
            b"+OK 2 messages (74 octets)\r\n1 0\r\n3 74\r\n.\r\n"
        );
        assert_eq!(
            written(&drop, Kind::Uidls, 0),
            b"+OK 2 messages (74 octets)\r\n1 id-0\r\n3 id-2\r\n.\r\n"
        );
    }

    #[test]
    fn a_bounded_call_stays_near_its_bound() {
        let drop = table(10_000);
        let mut out = Vec::new();
        let mut listing = Listing::start(&drop, Kind::Uidls, &mut out);
        out.clear();
        assert!(listing.write(&drop, &mut out, 1024));
        assert!(out.len() >= 1024 && out.len() < 1024 + 32, "{}", out.len());
    }
}
