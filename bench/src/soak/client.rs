//! One soak client: its user's sessions one after another, each a login, a listing checked
//! against what the client knows, random steps and a QUIT or a drop.

use super::commands::{Op, OPS};
use super::counters::Counters;
use super::{checks::shown, Args, MAX_SESSIONS_PER_CLIENT};
use crate::client::{parse_list, parse_uidl, Conn, Fail, Reply};
use crate::corpus::Corpus;
use crate::report::Errors;
use crate::users::Credentials;
use crate::Target;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a client knows of its user's mailbox across sessions.
#[derive(Default)]
pub(super) struct Knowledge {
    /// UIDL -> size of the messages that must be on the server (set at the first login).
    pub(super) expected: Option<BTreeMap<String, u64>>,
    /// How many messages the first login saw; DELE leaves at least half of them.
    pub(super) initial: usize,
    /// UIDL -> corpus message, learned from base names and from RETR/TOP contents.
    pub(super) ids: HashMap<String, usize>,
    /// Corpus message -> the UIDL it was seen under: a second UIDL is a duplicate.
    pub(super) claimed: HashMap<usize, String>,
    /// UIDLs deleted by completed QUITs.
    pub(super) deleted: Vec<String>,
}

/// A message of the current session.
pub(super) struct Msg {
    pub(super) uidl: String,
    pub(super) size: u64,
    pub(super) marked: bool,
}

pub(super) enum End {
    Quit,
    Drop,
    InUse,
    ClosedAfterOverlong,
}

pub(super) struct Client {
    pub(super) user: Credentials,
    pub(super) target: Target,
    pub(super) corpus: Option<Arc<Corpus>>,
    pub(super) errors: Arc<Errors>,
    pub(super) rng: fastrand::Rng,
    pub(super) think_ms: u64,
    pub(super) max_commands: usize,
    pub(super) counters: Counters,
    pub(super) mailbox: Knowledge,
    pub(super) errors_seen: u64,
    /// IN-USE right after this client's own completed QUIT is an error.
    pub(super) strict_lock: bool,
    /// Whether the last session ended with a completed QUIT.
    pub(super) last_quit: bool,
}

impl Client {
    pub(super) fn new(
        user: Credentials,
        args: &Args,
        corpus: Option<Arc<Corpus>>,
        errors: Arc<Errors>,
        rng: fastrand::Rng,
    ) -> Client {
        Client {
            user,
            target: args.target.clone(),
            corpus,
            errors,
            rng,
            think_ms: args.think_ms,
            max_commands: args.max_commands,
            counters: Counters::default(),
            mailbox: Knowledge::default(),
            errors_seen: 0,
            strict_lock: !args.allow_in_use_after_quit,
            last_quit: false,
        }
    }

    pub(super) async fn run(&mut self, deadline: Instant) {
        for _ in 0..MAX_SESSIONS_PER_CLIENT {
            if Instant::now() >= deadline {
                break;
            }
            let after_quit = std::mem::take(&mut self.last_quit);
            match self.session(deadline).await {
                Ok(End::Quit) => {
                    self.counters.quits += 1;
                    self.last_quit = true;
                }
                Ok(End::Drop) => self.counters.drops += 1,
                Ok(End::ClosedAfterOverlong) => self.counters.closed_after_overlong += 1,
                Ok(End::InUse) => {
                    self.counters.in_use += 1;
                    if after_quit {
                        self.counters.in_use_after_quit += 1;
                        if self.strict_lock {
                            self.error(format!(
                                "{}: PASS: -ERR [IN-USE] right after the previous session's \
                                 QUIT was answered +OK and the connection closed",
                                self.user.user
                            ));
                        }
                        self.last_quit = true; // the next attempt is still right after it
                    }
                    self.pause(5, 50).await;
                }
                Err(fail) => {
                    self.error(format!("{}: {fail}", self.user.user));
                    self.pause(20, 20).await;
                }
            }
        }
    }

    /// Counts an error; keeps the message of a client's first few only, so that one broken
    /// mailbox does not hide the others.
    pub(super) fn error(&mut self, message: String) {
        self.errors_seen += 1;
        if self.errors_seen <= 3 {
            self.errors.record(message);
        } else {
            self.errors.count_only();
        }
    }

    pub(super) async fn pause(&mut self, from_ms: u64, to_ms: u64) {
        let ms = self.rng.u64(from_ms..=to_ms);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    pub(super) fn chance(&mut self, percent: u8) -> bool {
        self.rng.u8(0..100) < percent
    }

    /// The keyword as given, or sometimes in lower case (keywords are case-insensitive).
    pub(super) fn keyword(&mut self, keyword: &str) -> String {
        if self.chance(10) {
            keyword.to_ascii_lowercase()
        } else {
            keyword.to_string()
        }
    }

    pub(super) async fn send(&mut self, conn: &mut Conn, line: &str) -> Result<(), Fail> {
        self.counters.commands += 1;
        conn.send(format!("{line}\r\n").as_bytes()).await
    }

    /// Reads a status line, counting it, with the command in error messages.
    pub(super) async fn status(&mut self, conn: &mut Conn, line: &str) -> Result<Reply, Fail> {
        let reply = conn.status().await.map_err(|fail| match fail {
            Fail::Protocol(what) => Fail::Protocol(format!("{}: {what}", shown(line))),
            Fail::Connection(what) => Fail::Connection(format!("{}: {what}", shown(line))),
            Fail::Timeout(what) => Fail::Timeout(format!("{}: {what}", shown(line))),
        })?;
        if reply.is_ok() {
            self.counters.ok_replies += 1;
        } else {
            self.counters.err_replies += 1;
        }
        Ok(reply)
    }

    pub(super) async fn command(&mut self, conn: &mut Conn, line: &str) -> Result<Reply, Fail> {
        self.send(conn, line).await?;
        self.status(conn, line).await
    }

    pub(super) async fn session(&mut self, deadline: Instant) -> Result<End, Fail> {
        let mut conn = Conn::open(self.target.addr, self.target.timeout(), 16 * 1024).await?;
        self.counters.sessions += 1;
        for _ in 0..self.rng.usize(0..=2) {
            self.before_login(&mut conn).await?;
        }
        let (user, pass) = (self.user.user.clone(), self.user.pass.clone());
        let user_line = format!("{} {user}", self.keyword("USER"));
        self.command(&mut conn, &user_line).await?.ok("USER")?;
        match self.command(&mut conn, &format!("PASS {pass}")).await? {
            Reply::Ok(_) => {}
            Reply::Err(text) if text.starts_with("[IN-USE]") => return Ok(End::InUse),
            Reply::Err(text) => return Err(Fail::protocol(format!("PASS: -ERR {text}"))),
        }
        let mut msgs = self.listing(&mut conn).await?;
        for _ in 0..self.rng.usize(1..=self.max_commands) {
            if Instant::now() >= deadline {
                break;
            }
            self.pause(0, self.think_ms).await;
            if let Some(end) = self.step(&mut conn, &mut msgs).await? {
                return Ok(end);
            }
        }
        if self.chance(65) {
            let marked: Vec<String> = msgs
                .iter()
                .filter(|m| m.marked)
                .map(|m| m.uidl.clone())
                .collect();
            let quit = self.keyword("QUIT");
            self.command(&mut conn, &quit).await?.ok("QUIT")?;
            conn.expect_close().await?;
            let expected = self.mailbox.expected.as_mut().expect("listed at login");
            for uidl in marked {
                expected.remove(&uidl);
                self.mailbox.deleted.push(uidl);
                self.counters.deleted += 1;
            }
            Ok(End::Quit)
        } else {
            Ok(End::Drop)
        }
    }

    /// Something in the AUTHORIZATION state before logging in: all `-ERR` but CAPA.
    pub(super) async fn before_login(&mut self, conn: &mut Conn) -> Result<(), Fail> {
        let line = match self.rng.u8(0..7) {
            0 => {
                let capa = self.keyword("CAPA");
                self.command(conn, &capa).await?.ok("CAPA")?;
                return conn.skip_body().await;
            }
            1 => {
                // A wrong password; the client may then start over with USER.
                let user = format!("USER {}", self.user.user);
                self.command(conn, &user).await?.ok("USER")?;
                "PASS wrong-password".to_string()
            }
            2 => "STAT".into(),
            3 => "RETR 1".into(),
            4 => format!("PASS {}", self.user.pass),
            5 => "NOOP".into(),
            _ => self.garbage(),
        };
        self.command(conn, &line).await?.err(&shown(&line))?;
        Ok(())
    }

    /// UIDL and LIST at the start of a session: exactly the expected messages.
    pub(super) async fn listing(&mut self, conn: &mut Conn) -> Result<Vec<Msg>, Fail> {
        let mut body = Vec::new();
        self.command(conn, "UIDL").await?.ok("UIDL")?;
        conn.body(&mut body).await?;
        let uidls = parse_uidl(&body)?;
        self.command(conn, "LIST").await?.ok("LIST")?;
        conn.body(&mut body).await?;
        let list = parse_list(&body)?;
        let numbered = |i: usize, n: u32| n as usize == i + 1;
        if uidls.len() != list.len()
            || !uidls.iter().enumerate().all(|(i, (n, _))| numbered(i, *n))
            || !list.iter().enumerate().all(|(i, (n, _))| numbered(i, *n))
        {
            return Err(Fail::protocol(
                "UIDL and LIST at login do not number the messages 1, 2, ... alike",
            ));
        }
        let msgs: Vec<Msg> = uidls
            .into_iter()
            .zip(list)
            .map(|((_, uidl), (_, size))| Msg {
                uidl,
                size,
                marked: false,
            })
            .collect();
        let seen: BTreeMap<String, u64> = msgs.iter().map(|m| (m.uidl.clone(), m.size)).collect();
        match &self.mailbox.expected {
            None => {
                // Later sessions are checked against this one even if it is wrong.
                let mut sizes: Vec<u64> = seen.values().copied().collect();
                self.mailbox.initial = seen.len();
                self.mailbox.expected = Some(seen);
                if let Some(corpus) = &self.corpus {
                    sizes.sort_unstable();
                    if sizes != corpus.sizes() {
                        return Err(Fail::protocol(format!(
                            "first login: {} messages whose sizes are not the corpus's {}",
                            sizes.len(),
                            corpus.len()
                        )));
                    }
                }
            }
            Some(expected) if *expected != seen => {
                let missing: Vec<&String> =
                    expected.keys().filter(|u| !seen.contains_key(*u)).collect();
                let new: Vec<&String> =
                    seen.keys().filter(|u| !expected.contains_key(*u)).collect();
                return Err(Fail::protocol(format!(
                    "messages lost or changed: {} expected, {} listed; missing {missing:?}, \
                     unexpected {new:?}",
                    expected.len(),
                    seen.len()
                )));
            }
            Some(_) => {}
        }
        Ok(msgs)
    }

    /// One random step; `Some` when the session ended with it.
    pub(super) async fn step(
        &mut self,
        conn: &mut Conn,
        msgs: &mut [Msg],
    ) -> Result<Option<End>, Fail> {
        let total: u32 = OPS.iter().map(|(_, w)| w).sum();
        let mut pick = self.rng.u32(0..total);
        let op = OPS
            .iter()
            .find(|(_, w)| {
                let hit = pick < *w;
                pick = pick.saturating_sub(*w);
                hit
            })
            .map_or(Op::Noop, |(op, _)| *op);
        match op {
            Op::Pipeline => {
                let mut batch = Vec::new();
                for _ in 0..self.rng.usize(2..=5) {
                    let op = [
                        Op::Stat,
                        Op::Noop,
                        Op::ListOne,
                        Op::UidlOne,
                        Op::ListAll,
                        Op::Retr,
                    ][self.rng.usize(0..6)];
                    batch.push(self.plan(op, msgs));
                }
                let wire: String = batch
                    .iter()
                    .map(|(line, _)| format!("{line}\r\n"))
                    .collect();
                self.counters.commands += batch.len() as u64;
                conn.send(wire.as_bytes()).await?;
                for (line, check) in batch {
                    if let Some(end) = self.finish(conn, msgs, &line, check).await? {
                        return Ok(Some(end));
                    }
                }
                Ok(None)
            }
            Op::DropInRetr => {
                let Some(i) = self.unmarked(msgs) else {
                    return Ok(None);
                };
                let line = format!("RETR {}", i + 1);
                self.command(conn, &line).await?.ok(&line)?;
                Ok(Some(End::Drop))
            }
            Op::DropAfterDele => {
                let Some(i) = self.unmarked(msgs) else {
                    return Ok(None);
                };
                self.send(conn, &format!("DELE {}", i + 1)).await?;
                Ok(Some(End::Drop))
            }
            op => {
                let (line, check) = self.plan(op, msgs);
                self.send(conn, &line).await?;
                self.finish(conn, msgs, &line, check).await
            }
        }
    }
}
