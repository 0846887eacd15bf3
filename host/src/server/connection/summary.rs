//! The line an operator reads when a session ends, like Dovecot's `pop3_logout_format`: how
//! long it lasted, over TLS or not, what it retrieved and deleted, and how it ended. The
//! session's span adds who and from where; in JSON logs each is a field.

use std::time::Duration;

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The client sent QUIT.
    Quit,
    /// The client closed the connection without QUIT.
    ClientLeft,
    IdleTimeout,
    /// The server is stopping.
    Shutdown,
    /// `pop3host kick`.
    Kicked,
    /// The server closed it: too many failed logins, a message that broke off, a plugin
    /// failure that lost the mailbox, a failed STLS handshake.
    Closed,
    /// The plugin's `connect` refused the connection.
    Refused,
    /// Reading or writing failed, or the client stopped reading.
    ConnectionError,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Quit => "quit",
            Ending::ClientLeft => "client_left",
            Ending::IdleTimeout => "idle_timeout",
            Ending::Shutdown => "shutdown",
            Ending::Kicked => "kicked",
            Ending::Closed => "closed_by_server",
            Ending::Refused => "refused",
            Ending::ConnectionError => "connection_error",
        }
    }
}

/// What a session did, counted as it goes.
#[derive(Default)]
pub struct Summary {
    retr: Sent,
    top: Sent,
    /// DELE marks sent to UPDATE, and how many of them the plugin deleted.
    marked_at_quit: usize,
    deleted: usize,
}

#[derive(Default)]
struct Sent {
    count: u64,
    /// Octets on the wire: the encoded message with its terminator, without the `+OK` line.
    octets: u64,
}

impl Summary {
    /// A RETR or TOP sent in full.
    pub fn sent(&mut self, top: bool, octets: u64) {
        let sent = if top { &mut self.top } else { &mut self.retr };
        sent.count += 1;
        sent.octets += octets;
    }

    pub fn updated(&mut self, marked: usize, deleted: bool) {
        self.marked_at_quit = marked;
        self.deleted = if deleted { marked } else { 0 };
    }

    /// `marks_standing`: DELE marks of a session that ended without UPDATE.
    pub fn log(&self, ended: Ending, tls: bool, duration: Duration, marks_standing: usize) {
        tracing::info!(
            ended = %ended.as_str(),
            tls,
            duration_ms = duration.as_millis() as u64,
            retr = self.retr.count,
            retr_octets = self.retr.octets,
            top = self.top.count,
            top_octets = self.top.octets,
            marked = self.marked_at_quit + marks_standing,
            deleted = self.deleted,
            "session summary"
        );
    }
}
