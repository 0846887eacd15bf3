//! The rules of `pop3host check`: what each one asks of a plugin, and the hint a failing
//! one prints.

use super::client::{encode, is_ok, Client};
use super::{fail, CheckArgs, Failure, Report, MAX_MESSAGES};
use crate::protocol::body::BodyEncoder;
use crate::server::work;
use crate::service::Service;
use crate::session::Transfer;
use pop3_client_codec::listing::parse_listed;
use pop3_client_codec::multiline::unstuff;
use pop3_client_codec::status::parse_status;
use pop3_client_codec::uidl;
use std::collections::HashSet;
use std::time::Instant;

pub(super) struct Checker<'a> {
    pub(super) service: &'a Service,
    pub(super) args: &'a CheckArgs,
}

impl Checker<'_> {
    pub(super) fn run(&self, report: &mut Report) {
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
        report.check_if(
            self.service.prefetch,
            "prefetch",
            || first.prefetch_reads_what_retr_sends(),
            "the plugin does not allow prefetch (Backend::PREFETCH)",
        );
        report.check("second session", self.second_session());
        first.line("QUIT");
        report.check("stable ids", self.ids_are_stable(&uidls));
        report.check("wrong password", self.wrong_credentials_refused());
        report.check_if(
            self.args.allow_delete,
            "delete",
            || self.delete_takes_effect_at_quit(),
            "removes a message for good; pass --allow-delete to run it",
        );
    }

    fn client(&self) -> Client<'_> {
        Client::new(self.service)
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
            .and_then(|line| parse_listed(line.as_bytes()))
            .map(|listed| String::from_utf8_lossy(listed.value).into_owned());
        let Some(first) = first else {
            return fail("the maildrop is empty", "check with a user who has mail");
        };
        marking.line("DELE 1");
        drop(marking); // no QUIT: nothing may be deleted
        let has_first = |client: &mut Client<'_>| {
            client
                .multi("UIDL")
                .lines()
                .filter_map(|line| parse_listed(line.as_bytes()))
                .any(|listed| listed.value == first.as_bytes())
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
        if !is_ok(&bye) {
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

/// The rules a logged-in session checks.
impl Client<'_> {
    fn ids_are_valid(&self) -> Result<String, Failure> {
        if let Some(bad) = self.ids.iter().find(|id| !uidl::is_valid(id.as_bytes())) {
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
            let reply = self.line(&format!("LIST {n}"));
            let listed = parse_status(&reply)
                .and_then(|status| parse_listed(status.text().as_bytes()))
                .and_then(|listed| listed.size())
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
                if top != unstuff(&expected).body {
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
            if unstuff(&prefetched).body != whole {
                return fail(
                    format!("message {n}: top(msg, u32::MAX) is not what RETR {n} sends"),
                    HINT,
                );
            }
        }
        Ok("top(msg, u32::MAX) reads what RETR sends".into())
    }
}
