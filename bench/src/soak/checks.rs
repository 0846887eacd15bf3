//! The soak's checks of what the server answered: each reply against what it must be, each
//! message against the corpus, and every mailbox at the end.

use super::client::{Client, End, Msg};
use super::commands::Check;
use super::FINAL_LOCK_WAIT;
use crate::client::{parse_list, parse_uidl, printable, two_numbers, Conn, Fail, Reply};
use crate::corpus::{differs, top};
use pop3_client_codec::listing::parse_listed;
use std::time::{Duration, Instant};

impl Client {
    /// Reads and checks the reply to `line`; `Some` when the session ended.
    pub(super) async fn finish(
        &mut self,
        conn: &mut Conn,
        msgs: &mut [Msg],
        line: &str,
        check: Check,
    ) -> Result<Option<End>, Fail> {
        let what = shown(line);
        if let Check::Overlong = check {
            return match self.status(conn, line).await {
                Ok(Reply::Err(_)) => Ok(conn
                    .closed_within(Duration::from_millis(20))
                    .await?
                    .then_some(End::ClosedAfterOverlong)),
                Ok(reply @ Reply::Ok(_)) => Err(Fail::protocol(format!(
                    "{what}: {reply} to an overlong line"
                ))),
                Err(Fail::Connection(_)) => Ok(Some(End::ClosedAfterOverlong)),
                Err(fail) => Err(fail),
            };
        }
        let reply = self.status(conn, line).await?;
        if let Check::Err = check {
            reply.err(&what)?;
            return Ok(None);
        }
        let text = reply.ok(&what)?;
        let mut body = Vec::new();
        match check {
            Check::Stat(count, size) => {
                if two_numbers(&text, "STAT")? != (count, size) {
                    return Err(Fail::protocol(format!(
                        "{what}: +OK {text} where {count} {size} was due"
                    )));
                }
            }
            Check::ListOne(n, size) => {
                if two_numbers(&text, &what)? != (n as u64, size) {
                    return Err(Fail::protocol(format!(
                        "{what}: +OK {text} where {n} {size} was due"
                    )));
                }
            }
            Check::UidlOne(n, uidl) => {
                let listed = parse_listed(text.as_bytes());
                if !listed.is_some_and(|l| l.number == n as usize && l.value == uidl.as_bytes()) {
                    return Err(Fail::protocol(format!(
                        "{what}: +OK {text} where {n} {uidl} was due"
                    )));
                }
            }
            Check::ListAll(want) => {
                conn.body(&mut body).await?;
                if parse_list(&body)? != want {
                    return Err(Fail::protocol(format!("{what}: not the live messages")));
                }
            }
            Check::UidlAll(want) => {
                conn.body(&mut body).await?;
                if parse_uidl(&body)? != want {
                    return Err(Fail::protocol(format!("{what}: not the live messages")));
                }
            }
            Check::Retr(i) => {
                conn.body(&mut body).await?;
                if body.len() as u64 != msgs[i].size {
                    return Err(Fail::protocol(format!(
                        "{what}: {} octets where LIST said {}",
                        body.len(),
                        msgs[i].size
                    )));
                }
                self.verify(&msgs[i], None, &body)?;
                self.counters.retrs += 1;
                self.counters.retr_octets += body.len() as u64;
            }
            Check::Top(i, lines) => {
                conn.body(&mut body).await?;
                if body.len() as u64 > msgs[i].size {
                    return Err(Fail::protocol(format!("{what}: more than the message")));
                }
                self.verify(&msgs[i], Some(lines), &body)?;
                self.counters.tops += 1;
            }
            Check::Dele(i) => msgs[i].marked = true,
            Check::Rset => msgs.iter_mut().for_each(|m| m.marked = false),
            Check::OkMultiLine => conn.body(&mut body).await?,
            Check::Ok | Check::Err | Check::Overlong => {}
        }
        Ok(None)
    }

    /// Checks a RETR (`lines` None) or TOP body against the corpus and learns which corpus
    /// message the UIDL is; one corpus message under two UIDLs is a duplicate.
    pub(super) fn verify(
        &mut self,
        msg: &Msg,
        lines: Option<u64>,
        body: &[u8],
    ) -> Result<(), Fail> {
        let Some(corpus) = &self.corpus else {
            return Ok(());
        };
        let known = self.mailbox.ids.get(&msg.uidl).copied();
        let id = match (known, lines) {
            (Some(id), None) if *corpus.messages[id].content == *body => id,
            (Some(id), Some(k)) if top(&corpus.messages[id].content, k) == body => id,
            (Some(id), lines) => {
                let content = &corpus.messages[id].content;
                let want = lines.map_or(&content[..], |k| top(content, k));
                return Err(Fail::Protocol(differs(&msg.uidl, body, want)));
            }
            (None, None) => corpus.identify(&msg.uidl, body).map_err(Fail::Protocol)?,
            (None, Some(k)) => corpus
                .identify_top(&msg.uidl, msg.size, k, body)
                .map_err(Fail::Protocol)?,
        };
        if known.is_none() {
            if let Some(other) = self.mailbox.claimed.insert(id, msg.uidl.clone()) {
                if other != msg.uidl {
                    return Err(Fail::protocol(format!(
                        "corpus message {} served as UIDL {other} and as {}",
                        corpus.messages[id].base, msg.uidl
                    )));
                }
            }
            self.mailbox.ids.insert(msg.uidl.clone(), id);
        }
        Ok(())
    }

    /// After the load: the mailbox holds exactly the corpus minus what completed QUITs
    /// deleted, each message intact.
    pub(super) async fn final_check(&mut self) -> Result<(), Fail> {
        let started = Instant::now();
        let mut conn = loop {
            let mut conn = Conn::open(self.target.addr, self.target.timeout(), 64 * 1024).await?;
            let (user, pass) = (self.user.user.clone(), self.user.pass.clone());
            match conn.login(&user, &pass).await? {
                Reply::Ok(_) => break conn,
                Reply::Err(text)
                    if text.starts_with("[IN-USE]") && started.elapsed() < FINAL_LOCK_WAIT =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Reply::Err(text) => return Err(Fail::protocol(format!("login: -ERR {text}"))),
            }
        };
        let msgs = self.listing(&mut conn).await?;
        let mut body = Vec::new();
        for (i, msg) in msgs.iter().enumerate() {
            let line = format!("RETR {}", i + 1);
            self.command(&mut conn, &line).await?.ok(&line)?;
            conn.body(&mut body).await?;
            if body.len() as u64 != msg.size {
                return Err(Fail::protocol(format!("{line}: not the LIST size")));
            }
            self.verify(msg, None, &body)?;
        }
        conn.quit().await?;
        if let Some(corpus) = &self.corpus {
            let deleted = &self.mailbox.deleted;
            let gone_but_here = deleted
                .iter()
                .filter_map(|u| self.mailbox.ids.get(u))
                .any(|id| {
                    msgs.iter()
                        .any(|m| self.mailbox.ids.get(&m.uidl) == Some(id))
                });
            if gone_but_here || msgs.len() + deleted.len() != corpus.len() {
                return Err(Fail::protocol(format!(
                    "{} messages left and {} deleted, but the corpus has {}",
                    msgs.len(),
                    deleted.len(),
                    corpus.len()
                )));
            }
        }
        self.counters.final_users += 1;
        self.counters.final_messages += msgs.len() as u64;
        Ok(())
    }
}

/// A command line for messages: overlong ones shortened.
pub(super) fn shown(line: &str) -> String {
    if line.len() > 40 || line.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        printable(line.as_bytes())
    } else {
        line.to_string()
    }
}
