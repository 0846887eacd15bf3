//! `pop3host check`: a conformance report for a plugin. It loads the plugin as the server
//! does and drives it through the real session state machine and the same backend work
//! functions, without a network, reading the replies as a client would. Each rule gets PASS,
//! FAIL with a hint, or SKIP; the exit status says whether all passed.

use crate::config::{Config, Settings};
use crate::protocol::body::BodyEncoder;
use crate::protocol::uidl;
use crate::server::work;
use crate::service::Service;
use crate::session::{Action, LoginOutcome, LoginTracker, Session, Transfer, Transport};
use pop3_plugin_api::host::{BackendHandle, MailboxHandle, ReaderHandle};
use pop3_plugin_api::{Connection, PopError};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Plugin library: a path, or a NAME for libNAME.so next to the binary or in --plugin-dir.
    #[arg(long, value_name = "PATH|NAME")]
    pub plugin: String,
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Configuration for the plugin's init: JSON text, or @FILE.
    #[arg(long, value_name = "JSON|@FILE")]
    pub plugin_config: Option<String>,
    /// A user whose maildrop holds at least one message.
    #[arg(long)]
    pub user: String,
    /// That user's password.
    #[arg(long)]
    pub pass: String,
    /// Also check deletion, which removes the user's first message for good.
    #[arg(long)]
    pub allow_delete: bool,
}

/// Messages read in full per check, so that a large maildrop stays quick to check.
const MAX_MESSAGES: usize = 100;

/// Runs every check and prints the report; `Ok(false)` when one failed.
pub fn run(args: CheckArgs) -> Result<bool, String> {
    let settings = Settings {
        plugin: Some(args.plugin.clone()),
        plugin_dir: args.plugin_dir.clone(),
        plugin_config: args.plugin_config.clone(),
        ..Settings::default()
    };
    let config = Config::from_settings(settings)?;
    let service = Service::start(&config, false)?;
    println!(
        "pop3host check: {} ({})",
        service.plugin.name,
        service.plugin_path.display()
    );
    let checker = Checker {
        service: &service,
        args: &args,
    };
    let mut report = Report::default();
    checker.run(&mut report);
    println!(
        "{} passed, {} failed, {} skipped",
        report.passed, report.failed, report.skipped
    );
    Ok(report.failed == 0)
}

#[derive(Default)]
struct Report {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Report {
    fn check(&mut self, name: &str, result: Result<String, Failure>) {
        match result {
            Ok(detail) => {
                self.passed += 1;
                println!("PASS  {name:<16} {detail}");
            }
            Err(Failure { what, hint }) => {
                self.failed += 1;
                println!("FAIL  {name:<16} {what}\n      hint: {hint}");
            }
        }
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.skipped += 1;
        println!("SKIP  {name:<16} {why}");
    }
}

struct Failure {
    what: String,
    hint: &'static str,
}

fn fail<T>(what: impl Into<String>, hint: &'static str) -> Result<T, Failure> {
    Err(Failure {
        what: what.into(),
        hint,
    })
}

struct Checker<'a> {
    service: &'a Service,
    args: &'a CheckArgs,
}

impl Checker<'_> {
    fn run(&self, report: &mut Report) {
        let mut first = self.client();
        let login = first.login(&self.args.user, &self.args.pass);
        let logged_in = login.is_ok();
        report.check("login", login);
        if !logged_in {
            report.skip("(the rest)", "needs a login");
            return;
        }
        report.check("ids", first.ids_are_valid());
        let uidls = first.multi("UIDL");
        report.check("sizes", first.sizes_match_bytes());
        report.check("top", first.top_agrees_with_retr());
        if self.service.prefetch {
            report.check("prefetch", first.prefetch_reads_what_retr_sends());
        } else {
            report.skip(
                "prefetch",
                "the plugin does not allow prefetch (Backend::PREFETCH)",
            );
        }
        report.check("second session", self.second_session());
        first.line("QUIT");
        report.check("stable ids", self.ids_are_stable(&uidls));
        report.check("wrong password", self.wrong_credentials_refused());
        if self.args.allow_delete {
            report.check("delete", self.delete_takes_effect_at_quit());
        } else {
            report.skip(
                "delete",
                "removes a message for good; pass --allow-delete to run it",
            );
        }
    }

    fn client(&self) -> Client<'_> {
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
        let session = Session::new(self.service.session.clone(), logins, 0, 0, transport);
        Client {
            backend: self.service.plugin.handle(),
            session,
            mailbox: None,
            ids: Vec::new(),
            conn,
            failed_call: None,
        }
    }

    fn second_session(&self) -> Result<String, Failure> {
        let reply = self.client().login(&self.args.user, &self.args.pass);
        match reply {
            Err(Failure { what, .. }) if what.contains("[IN-USE]") => {
                Ok("refused with [IN-USE]: the maildrop is locked".into())
            }
            Ok(_) => Ok(
                "allowed: this plugin lets sessions share a maildrop (say so in its docs)".into(),
            ),
            Err(Failure { what, .. }) => fail(
                what,
                "a second session of a logged-in user gets PopError::in_use, or is allowed",
            ),
        }
    }

    fn ids_are_stable(&self, before: &str) -> Result<String, Failure> {
        let mut again = self.client();
        again.login(&self.args.user, &self.args.pass)?;
        let after = again.multi("UIDL");
        again.line("QUIT");
        if after != before {
            return fail(
                "the UIDL list differs between two logins",
                "ids must stay the same across sessions, in the same order",
            );
        }
        Ok(format!(
            "{} ids the same at the next login",
            before.lines().count()
        ))
    }

    fn wrong_credentials_refused(&self) -> Result<String, Failure> {
        for (user, pass) in [
            (self.args.user.as_str(), "pop3host-check-wrong"),
            ("pop3host-check-nobody", "x"),
        ] {
            if let Err(Failure { what, .. }) = self.client().login(user, pass) {
                if !what.starts_with("-ERR [AUTH]") {
                    return fail(
                        format!("{user}: {what}"),
                        "wrong credentials must be PopError::auth (the code [AUTH])",
                    );
                }
            } else {
                return fail(
                    format!("{user} logged in with a wrong password"),
                    "authenticate must check the password",
                );
            }
        }
        Ok("wrong password and unknown user both get [AUTH]".into())
    }

    /// A logged-in client right after another session of the user ended without QUIT. A
    /// plugin in front of another server (the proxy) may see the maildrop locked until that
    /// server notices the dropped connection, so `[IN-USE]` is retried for a few seconds.
    fn client_after_drop(&self) -> Result<Client<'_>, Failure> {
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let mut client = self.client();
            match client.login(&self.args.user, &self.args.pass) {
                Err(Failure { what, .. })
                    if what.contains("[IN-USE]") && Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                result => return result.map(|_| client),
            }
        }
    }

    fn delete_takes_effect_at_quit(&self) -> Result<String, Failure> {
        let mut marking = self.client();
        marking.login(&self.args.user, &self.args.pass)?;
        let first = marking
            .multi("UIDL")
            .lines()
            .next()
            .and_then(|l| l.split_once(' '))
            .map(|(_, u)| u.to_string());
        let Some(first) = first else {
            return fail("the maildrop is empty", "check with a user who has mail");
        };
        marking.line("DELE 1");
        drop(marking); // no QUIT: nothing may be deleted
        let has_first = |client: &mut Client<'_>| {
            client
                .multi("UIDL")
                .lines()
                .any(|l| l.ends_with(&format!(" {first}")))
        };
        let mut quitting = self.client_after_drop()?;
        if !has_first(&mut quitting) {
            return fail(
                "a message marked deleted is gone without QUIT",
                "delete only in Mailbox::delete, called at QUIT",
            );
        }
        quitting.line("DELE 1");
        let bye = quitting.line("QUIT");
        if !bye.starts_with("+OK") {
            return fail(
                format!("QUIT answered {bye}"),
                "Mailbox::delete should remove the messages it is given",
            );
        }
        let mut after = self.client();
        after.login(&self.args.user, &self.args.pass)?;
        if has_first(&mut after) {
            return fail(
                "the message is still there after QUIT",
                "Mailbox::delete must remove the messages it is given",
            );
        }
        Ok(format!(
            "{first} kept when the session dropped, removed at QUIT"
        ))
    }
}

/// A session driven like the server's connection driver, synchronously, reading replies as
/// a client.
struct Client<'a> {
    backend: &'a BackendHandle,
    session: Session,
    mailbox: Option<MailboxHandle>,
    /// The plugin's ids as listed at login.
    ids: Vec<String>,
    conn: Connection,
    /// The error of a backend call the last command made, which its `-ERR` reply does not
    /// show (the server hides a plugin's own words from clients).
    failed_call: Option<PopError>,
}

impl Client<'_> {
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

    fn line(&mut self, line: &str) -> String {
        String::from_utf8_lossy(&self.send(line))
            .trim_end()
            .to_string()
    }

    /// The body of a multi-line reply, dot-stuffing removed.
    fn multi(&mut self, line: &str) -> String {
        String::from_utf8_lossy(&body(&self.send(line))).into_owned()
    }

    /// The body of a RETR or TOP, or the failure of the backend call behind it, named with the
    /// command: a callback that panics or fails is the problem to fix before any size or
    /// content is worth judging.
    fn message(&mut self, command: &str) -> Result<Vec<u8>, Failure> {
        let reply = self.send(command);
        match self.failed_call.take() {
            Some(error) => fail(
                format!("{command}: {error}"),
                "every callback must succeed for a message that list() returned",
            ),
            None => Ok(body(&reply)),
        }
    }

    fn login(&mut self, user: &str, pass: &str) -> Result<String, Failure> {
        self.line(&format!("USER {user}"));
        let reply = self.line(&format!("PASS {pass}"));
        if reply.starts_with("+OK") {
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

    fn ids_are_valid(&self) -> Result<String, Failure> {
        if let Some(bad) = self.ids.iter().find(|id| !uidl::is_valid(id)) {
            return fail(
                format!("id {bad:?} is not a valid UIDL (the host serves a hash of it)"),
                "ids should be 1-70 characters in 0x21-0x7E",
            );
        }
        let unique: HashSet<&String> = self.ids.iter().collect();
        if unique.len() != self.ids.len() {
            return fail(
                "two messages share an id",
                "ids must be unique within a maildrop",
            );
        }
        Ok(format!("{} ids, valid UIDLs, unique", self.ids.len()))
    }

    fn sizes_match_bytes(&mut self) -> Result<String, Failure> {
        for n in 1..=self.ids.len().min(MAX_MESSAGES) {
            let listed: u64 = self
                .line(&format!("LIST {n}"))
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let sent = self.message(&format!("RETR {n}"))?.len() as u64;
            if listed != sent {
                return fail(
                    format!("message {n}: listed {listed} octets, sent {sent}"),
                    "a size counts each line end as CRLF, before dot-stuffing, and a CRLF added to an unterminated last line",
                );
            }
        }
        Ok(format!(
            "{} messages: listed sizes equal the octets sent",
            self.ids.len().min(MAX_MESSAGES)
        ))
    }

    fn top_agrees_with_retr(&mut self) -> Result<String, Failure> {
        for n in 1..=self.ids.len().min(MAX_MESSAGES) {
            let whole = self.message(&format!("RETR {n}"))?;
            for lines in [0, 2] {
                let mut expected = Vec::new();
                let mut encoder = BodyEncoder::top(lines);
                encoder.encode(&whole, &mut expected);
                encoder.finish(&mut expected);
                let top = self.message(&format!("TOP {n} {lines}"))?;
                if top != body_of_encoded(&expected) {
                    return fail(
                        format!("message {n}: TOP {n} {lines} is not the start of RETR {n}"),
                        "top must read the same message as retrieve",
                    );
                }
            }
        }
        Ok("TOP n 0 and TOP n 2 are the start of RETR n".into())
    }

    /// `Backend::PREFETCH` promises that `top` with `u32::MAX` lines is the whole message: a
    /// RETR served from a prefetch must send what one served through `retrieve` sends.
    fn prefetch_reads_what_retr_sends(&mut self) -> Result<String, Failure> {
        const HINT: &str =
            "with PREFETCH, top(msg, u32::MAX) must return the whole message, as retrieve does";
        for n in 1..=self.ids.len().min(MAX_MESSAGES) {
            let whole = self.message(&format!("RETR {n}"))?;
            let transfer = Transfer {
                index: n - 1,
                id: self.ids[n - 1].clone(),
                size: whole.len() as u64,
                top: None,
            };
            let mailbox = self.mailbox.as_mut().expect("logged in");
            let Some(reader) = work::prefetch(mailbox, &transfer) else {
                return fail(
                    format!("message {n}: top(msg, u32::MAX) gave no reader"),
                    HINT,
                );
            };
            let mut prefetched = Vec::new();
            if let Err(error) = encode(reader, BodyEncoder::whole(), &mut prefetched) {
                return fail(
                    format!("message {n}: reading top(msg, u32::MAX): {error}"),
                    HINT,
                );
            }
            if body_of_encoded(&prefetched) != whole {
                return fail(
                    format!("message {n}: top(msg, u32::MAX) is not what RETR {n} sends"),
                    HINT,
                );
            }
        }
        Ok("top(msg, u32::MAX) reads what RETR sends".into())
    }
}

/// Reads a message to its end (or `encoder`'s) as the server sends it; a read error leaves
/// it without its terminator, as the server does.
fn encode(
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

/// The unstuffed body of a multi-line reply (status line and terminator removed).
fn body(reply: &[u8]) -> Vec<u8> {
    let Some(start) = reply.iter().position(|&b| b == b'\n') else {
        return Vec::new();
    };
    body_of_encoded(&reply[start + 1..])
}

fn body_of_encoded(encoded: &[u8]) -> Vec<u8> {
    let encoded = encoded.strip_suffix(b".\r\n").unwrap_or(encoded);
    encoded
        .split_inclusive(|&b| b == b'\n')
        .flat_map(|l| l.strip_prefix(b".").unwrap_or(l).to_vec())
        .collect()
}
