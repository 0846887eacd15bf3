//! The TRANSACTION state (RFC 1939 §5) and the end of UPDATE (§6).

use super::listing::{self, Listing};
use super::message_table::MessageTable;
use super::{Action, Session, State, Transfer};
use crate::protocol::command::Command;
use crate::protocol::reply;
use pop3_plugin_api::PopError;

/// A command after login, on the session's message table.
pub(super) fn command(messages: &mut MessageTable, command: Command, out: &mut Vec<u8>) -> Action {
    match command {
        Command::Stat => {
            let (count, octets) = messages.stat();
            reply::ok(out, &format!("{count} {octets}"));
        }
        Command::List(None) => {
            return Action::Listing(Listing::start(messages, listing::Kind::Sizes, out))
        }
        Command::Uidl(None) => {
            return Action::Listing(Listing::start(messages, listing::Kind::Uidls, out))
        }
        Command::List(Some(n)) => match messages.get(n) {
            Ok((_, msg)) => reply::ok(out, &format!("{} {}", n.0, msg.size)),
            Err(e) => reply::err_plain(out, e.text()),
        },
        Command::Uidl(Some(n)) => match messages.get(n) {
            Ok((_, msg)) => reply::ok(out, &format!("{} {}", n.0, msg.uidl)),
            Err(e) => reply::err_plain(out, e.text()),
        },
        Command::Retr(n) | Command::Top { msg: n, .. } => {
            let top = match command {
                Command::Top { lines, .. } => Some(lines),
                _ => None,
            };
            match messages.get(n) {
                Ok((index, msg)) => return Action::Transfer(Transfer::new(index, msg, top)),
                Err(e) => reply::err_plain(out, e.text()),
            }
        }
        Command::Dele(n) => match messages.mark_deleted(n) {
            Ok(()) => reply::ok(out, &format!("Message {} deleted.", n.0)),
            Err(e) => reply::err_plain(out, e.text()),
        },
        Command::Rset => {
            messages.unmark_all();
            let (count, octets) = messages.stat();
            reply::ok(
                out,
                &format!("Maildrop has {count} messages ({octets} octets)."),
            );
        }
        Command::Noop => reply::ok(out, ""),
        Command::Quit => return Action::Update(messages.marked()),
        Command::User(_)
        | Command::Pass(_)
        | Command::Apop { .. }
        | Command::Auth { .. }
        | Command::Stls
        | Command::Utf8 => reply::err_plain(out, "Already logged in."),
        Command::Capa | Command::Proxy => unreachable!("answered in every state"),
    }
    Action::Continue
}

impl Session {
    /// The backend's answer to [`Action::Update`]. The session is over either way.
    pub fn update_done(&mut self, deleted: usize, result: Result<(), PopError>, out: &mut Vec<u8>) {
        match result {
            Ok(()) => reply::ok(out, &format!("Logging out, {deleted} messages deleted.")),
            Err(error) => {
                let text = format!("Some deleted messages were not removed: {}", error.message);
                reply::err(out, &PopError::new(error.code, text));
            }
        }
        self.state = State::Closed;
    }
}
