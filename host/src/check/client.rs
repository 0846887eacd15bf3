//! A session of `pop3host check`, driven like the server's connection driver but
//! synchronously and without a network, its replies read as a client reads them.

use super::{fail, Failure};
use crate::protocol::body::BodyEncoder;
use crate::server::work;
use crate::service::Service;
use crate::session::{Action, LoginOutcome, LoginTracker, Session, Transport};
use pop3_client_codec::multiline::unstuff;
use pop3_client_codec::status::parse_status;
use pop3_plugin_api::host::{BackendHandle, MailboxHandle, ReaderHandle};
use pop3_plugin_api::{Connection, PopError};
use std::sync::Arc;
use std::time::Instant;

/// A session driven like the server's connection driver, synchronously, reading replies as
/// a client.
pub(super) struct Client<'a> {
    pub(super) backend: &'a BackendHandle,
    pub(super) session: Session,
    pub(super) mailbox: Option<MailboxHandle>,
    /// The plugin's ids as listed at login.
    pub(super) ids: Vec<String>,
    pub(super) conn: Connection,
    /// The error of a backend call the last command made, which its `-ERR` reply does not
    /// show (the server hides a plugin's own words from clients).
    pub(super) failed_call: Option<PopError>,
}

impl Client<'_> {
    /// A fresh session on `service`, in the AUTHORIZATION state.
    pub(super) fn new(service: &Service) -> Client<'_> {
        let conn = Connection {
            id: 0,
            peer: "127.0.0.1:1".parse().expect("address"),
            local: "127.0.0.1:110".parse().expect("address"),
            tls: false,
        };
        let transport = Transport {
            tls: false,
            plaintext_auth_without_tls: true,
        };
        // Each client its own LOGIN-DELAY memory: the checks log in many times on purpose.
        let logins = Arc::new(LoginTracker::default());
        let session = Session::new(service.session.clone(), logins, 0, 0, transport);
        Client {
            backend: service.plugin.handle(),
            session,
            mailbox: None,
            ids: Vec::new(),
            conn,
            failed_call: None,
        }
    }

    /// Sends one command line and returns everything the server wrote.
    fn send(&mut self, line: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.failed_call = None;
        let action = self.session.line(line.as_bytes(), &mut out);
        match action {
            Action::Login(login) => {
                let granted = work::login(self.backend, &login, &self.conn)
                    .map(|(mailbox, granted, _)| {
                        self.ids = granted.messages.iter().map(|(id, _)| id.clone()).collect();
                        self.mailbox = Some(mailbox);
                        granted
                    })
                    .inspect_err(|error| self.failed_call = Some(error.clone()));
                if self
                    .session
                    .login_done(&login, granted, Instant::now(), &mut out)
                    != LoginOutcome::LoggedIn
                {
                    self.mailbox = None;
                }
            }
            Action::Transfer(transfer) => {
                let mailbox = self.mailbox.as_mut().expect("logged in");
                let encoder = transfer
                    .top
                    .map_or_else(BodyEncoder::whole, BodyEncoder::top);
                let sent = work::open(mailbox, &transfer).and_then(|reader| {
                    transfer.ok_line(&mut out);
                    encode(reader, encoder, &mut out)
                });
                if let Err(error) = sent {
                    if out.is_empty() {
                        crate::protocol::reply::err(&mut out, &error);
                    }
                    self.failed_call = Some(error);
                }
            }
            Action::Update(marked) => {
                let mailbox = self.mailbox.take().expect("logged in");
                let result = work::update(mailbox, &marked);
                self.failed_call = result.clone().err();
                self.session.update_done(marked.len(), result, &mut out);
            }
            Action::Listing(mut listing) => {
                while self
                    .session
                    .write_listing(&mut listing, &mut out, usize::MAX)
                {}
            }
            Action::Continue | Action::Close | Action::StartTls => {}
        }
        out
    }

    pub(super) fn line(&mut self, line: &str) -> String {
        String::from_utf8_lossy(&self.send(line))
            .trim_end()
            .to_string()
    }

    /// The body of a multi-line reply, dot-stuffing removed.
    pub(super) fn multi(&mut self, line: &str) -> String {
        String::from_utf8_lossy(&body(&self.send(line))).into_owned()
    }

    /// The body of a RETR or TOP, or the failure of the backend call behind it, named with the
    /// command: a callback that panics or fails is the problem to fix before any size or
    /// content is worth judging.
    pub(super) fn message(&mut self, command: &str) -> Result<Vec<u8>, Failure> {
        let reply = self.send(command);
        match self.failed_call.take() {
            Some(error) => fail(
                format!("{command}: {error}"),
                "every callback must succeed for a message that list() returned",
            ),
            None => Ok(body(&reply)),
        }
    }

    pub(super) fn login(&mut self, user: &str, pass: &str) -> Result<String, Failure> {
        self.line(&format!("USER {user}"));
        let reply = self.line(&format!("PASS {pass}"));
        if is_ok(&reply) {
            return Ok(reply);
        }
        let what = match self.failed_call.take() {
            Some(error) => format!("{reply} (the plugin: {error})"),
            None => reply,
        };
        fail(
            what,
            "authenticate must accept the user's password and list() must succeed",
        )
    }
}

/// Reads a message to its end (or `encoder`'s) as the server sends it; a read error leaves
/// it without its terminator, as the server does.
pub(super) fn encode(
    mut reader: ReaderHandle,
    mut encoder: BodyEncoder,
    out: &mut Vec<u8>,
) -> Result<(), PopError> {
    let mut chunk = vec![0; 64 * 1024];
    while !encoder.is_done() {
        match reader.read(&mut chunk)? {
            0 => break,
            n => encoder.encode(&chunk[..n], out),
        }
    }
    encoder.finish(out);
    Ok(())
}

/// The un-stuffed body of a multi-line reply (status line and terminator removed).
fn body(reply: &[u8]) -> Vec<u8> {
    match reply.iter().position(|&b| b == b'\n') {
        Some(status_end) => unstuff(&reply[status_end + 1..]).body,
        None => Vec::new(),
    }
}

/// Whether a reply line is `+OK`.
pub(super) fn is_ok(reply: &str) -> bool {
    parse_status(reply).is_some_and(|status| status.is_ok())
}
