//! The soak (issue 6): `--sessions` clients at once, each on its own user, open session after
//! session until `--seconds` pass. A session sends random valid and invalid commands (STAT,
//! LIST, UIDL, RETR, TOP, DELE, RSET, NOOP, CAPA, pipelined batches, garbage, overlong lines,
//! bad message numbers, commands of the wrong state) and ends with QUIT (after DELE: the
//! messages go) or a drop (close without QUIT, also in the middle of a RETR or right after a
//! DELE: nothing goes).
//!
//! Checked: every reply is well-formed and `+OK` where a valid command must succeed, `-ERR`
//! where it must fail; every session starts with exactly the messages expected (the corpus
//! minus what completed QUITs deleted; UIDLs unique and stable); every RETR and TOP matches
//! the corpus (`--corpus DIR`, the maildir each user's mailbox started as a copy of); at the
//! end every user's mailbox is checked message by message. With `--server-pid`, the server's
//! memory before, at its peak during, and after the load once its sessions are gone.

use crate::client::{parse_list, parse_uidl, printable, two_numbers, Conn, Fail, Reply};
use crate::corpus::{differs, top, Corpus};
use crate::idle::memory_rows;
use crate::logins::seconds;
use crate::memory::{Sample, ServerArgs};
use crate::report::{Errors, Report};
use crate::users::Credentials;
use crate::Target;
use pop3_client_codec::listing::parse_listed;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Clients at once; each needs its own user.
    #[arg(long, default_value_t = 200)]
    pub sessions: usize,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// The maildir every user's mailbox started as a copy of.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Most milliseconds a client waits between commands (a random wait up to it).
    #[arg(long, default_value_t = 5)]
    pub think_ms: u64,
    /// Most commands of a session after login.
    #[arg(long, default_value_t = 40)]
    pub max_commands: usize,
    /// Run the load this long first, close every session and take the server's memory then
    /// as a second baseline ("warm"): what the allocator keeps after its first peak is then
    /// told apart from growth under load.
    #[arg(long, default_value_t = 0.0)]
    pub warmup_seconds: f64,
    /// Seed of the random choices (client i uses seed + i); default from the clock.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Do not count `-ERR [IN-USE]` at the first login after a completed QUIT as an error.
    /// (RFC 1939 §6: the server releases the lock, then answers QUIT; after a drop the
    /// server may not have noticed yet, so IN-USE then is always allowed and retried.)
    #[arg(long)]
    pub allow_in_use_after_quit: bool,
}

/// Most sessions one client opens, whatever the time.
const MAX_SESSIONS_PER_CLIENT: usize = 100_000;
/// How long the final check waits for a user's maildrop lock to be released.
const FINAL_LOCK_WAIT: Duration = Duration::from_secs(10);

#[derive(Default, Clone, Copy)]
struct Counters {
    sessions: u64,
    commands: u64,
    ok_replies: u64,
    err_replies: u64,
    retrs: u64,
    retr_octets: u64,
    tops: u64,
    quits: u64,
    drops: u64,
    deleted: u64,
    in_use: u64,
    in_use_after_quit: u64,
    closed_after_overlong: u64,
    final_messages: u64,
    final_users: u64,
}

impl Counters {
    fn add(&mut self, o: &Counters) {
        self.sessions += o.sessions;
        self.commands += o.commands;
        self.ok_replies += o.ok_replies;
        self.err_replies += o.err_replies;
        self.retrs += o.retrs;
        self.retr_octets += o.retr_octets;
        self.tops += o.tops;
        self.quits += o.quits;
        self.drops += o.drops;
        self.deleted += o.deleted;
        self.in_use += o.in_use;
        self.in_use_after_quit += o.in_use_after_quit;
        self.closed_after_overlong += o.closed_after_overlong;
        self.final_messages += o.final_messages;
        self.final_users += o.final_users;
    }
}

pub async fn run(args: Args) -> Result<Report, String> {
    let users = args.target.users.load()?;
    if args.sessions == 0 || args.sessions > users.len() || args.sessions > 10_000 {
        return Err(format!(
            "--sessions {} needs as many users (at most 10000); {} given",
            args.sessions,
            users.len()
        ));
    }
    if args.think_ms > 10_000 || !(1..=10_000).contains(&args.max_commands) {
        return Err("--think-ms at most 10000, --max-commands 1 to 10000".into());
    }
    let corpus = match &args.corpus {
        Some(dir) => Some(Arc::new(Corpus::load(dir)?)),
        None => None,
    };
    let run_for = seconds(args.seconds)?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    rlimit::increase_nofile_limit(args.sessions as u64 * 2 + 256)
        .map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;

    let before = args.server.sample();
    if args.server.wanted() && before.is_none() {
        return Err("the server process is not running".into());
    }
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (server, stop) = (args.server.clone(), stop_sampling.clone());
        tokio::spawn(async move {
            let mut peak = Sample::default();
            while !stop.load(Ordering::Relaxed) {
                if let Some(s) = server.sample() {
                    peak.pss_kb = peak.pss_kb.max(s.pss_kb);
                    peak.rss_kb = peak.rss_kb.max(s.rss_kb);
                    peak.processes = peak.processes.max(s.processes);
                    peak.threads = peak.threads.max(s.threads);
                    peak.fds = peak.fds.max(s.fds);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            peak
        })
    };

    let errors = Arc::new(Errors::default());
    let mut clients: Vec<Client> = users
        .into_iter()
        .take(args.sessions)
        .enumerate()
        .map(|(i, user)| Client {
            user,
            target: args.target.clone(),
            corpus: corpus.clone(),
            errors: errors.clone(),
            rng: fastrand::Rng::with_seed(seed.wrapping_add(i as u64)),
            think_ms: args.think_ms,
            max_commands: args.max_commands,
            counters: Counters::default(),
            mailbox: Knowledge::default(),
            errors_seen: 0,
            strict_lock: !args.allow_in_use_after_quit,
            last_quit: false,
        })
        .collect();
    let mut load_seconds = 0.0;
    // The warm-up: the same load, then every session closed, for a baseline in which the
    // allocator and the thread pools have reached their working size.
    let mut warm = None;
    if args.warmup_seconds > 0.0 {
        let started = Instant::now();
        clients = phase(clients, started + seconds(args.warmup_seconds)?, false).await?;
        load_seconds += started.elapsed().as_secs_f64();
        warm = settle(&args.server, before).await;
    }
    let started = Instant::now();
    clients = phase(clients, started + run_for, false).await?;
    load_seconds += started.elapsed().as_secs_f64();
    // Every mailbox checked message by message once the load is over.
    clients = phase(clients, Instant::now(), true).await?;
    stop_sampling.store(true, Ordering::Relaxed);
    let peak = sampler.await.map_err(|e| format!("sampler: {e}"))?;
    let after = settle(&args.server, before).await;
    let mut totals = Counters::default();
    for client in &clients {
        totals.add(&client.counters);
    }

    let mut report = Report::new("soak");
    report.field("addr", args.target.addr.to_string());
    report.field("seed", seed);
    report.count("concurrent_sessions", args.sessions as u64);
    report.number("seconds", load_seconds, 1, "s");
    report.count("sessions", totals.sessions);
    report.count("commands", totals.commands);
    report.number(
        "commands_per_s",
        totals.commands as f64 / load_seconds,
        0,
        "/s",
    );
    report.count("ok_replies", totals.ok_replies);
    report.count("err_replies", totals.err_replies);
    report.count("retrs", totals.retrs);
    report.count("retr_octets", totals.retr_octets);
    report.count("tops", totals.tops);
    report.count("quits", totals.quits);
    report.count("drops", totals.drops);
    report.count("messages_deleted", totals.deleted);
    report.count("in_use_retries", totals.in_use);
    report.count("in_use_after_quit", totals.in_use_after_quit);
    report.count("closed_after_overlong_line", totals.closed_after_overlong);
    report.count("final_users_checked", totals.final_users);
    report.count("final_messages", totals.final_messages);
    report.add("corpus_checked", corpus.is_some(), corpus.is_some());
    if let (Some(before), Some(after)) = (before, after) {
        memory_rows(&mut report, "before", &before);
        if let Some(warm) = warm {
            memory_rows(&mut report, "warm", &warm);
        }
        memory_rows(&mut report, "peak", &peak);
        memory_rows(&mut report, "after", &after);
    }
    report.set_errors(&errors);
    Ok(report)
}

/// What a client knows of its user's mailbox across sessions.
#[derive(Default)]
struct Knowledge {
    /// UIDL -> size of the messages that must be on the server (set at the first login).
    expected: Option<BTreeMap<String, u64>>,
    /// How many messages the first login saw; DELE leaves at least half of them.
    initial: usize,
    /// UIDL -> corpus message, learned from base names and from RETR/TOP contents.
    ids: HashMap<String, usize>,
    /// Corpus message -> the UIDL it was seen under: a second UIDL is a duplicate.
    claimed: HashMap<usize, String>,
    /// UIDLs deleted by completed QUITs.
    deleted: Vec<String>,
}

/// A message of the current session.
struct Msg {
    uidl: String,
    size: u64,
    marked: bool,
}

enum End {
    Quit,
    Drop,
    InUse,
    ClosedAfterOverlong,
}

/// What the reply to one command line must be.
enum Check {
    Stat(u64, u64),
    ListAll(Vec<(u32, u64)>),
    ListOne(u32, u64),
    UidlAll(Vec<(u32, String)>),
    UidlOne(u32, String),
    Retr(usize),
    Top(usize, u64),
    Dele(usize),
    Rset,
    Ok,
    OkMultiLine,
    Err,
    /// `-ERR` or the server closes the connection.
    Overlong,
}

#[derive(Clone, Copy)]
enum Op {
    Stat,
    ListAll,
    ListOne,
    UidlAll,
    UidlOne,
    Retr,
    Top,
    Dele,
    Rset,
    Noop,
    Capa,
    Garbage,
    Overlong,
    BadNumber,
    WrongState,
    Pipeline,
    DropInRetr,
    DropAfterDele,
}

const OPS: &[(Op, u32)] = &[
    (Op::Stat, 10),
    (Op::ListAll, 6),
    (Op::ListOne, 8),
    (Op::UidlAll, 4),
    (Op::UidlOne, 8),
    (Op::Retr, 12),
    (Op::Top, 8),
    (Op::Dele, 6),
    (Op::Rset, 3),
    (Op::Noop, 5),
    (Op::Capa, 2),
    (Op::Garbage, 4),
    (Op::Overlong, 1),
    (Op::BadNumber, 8),
    (Op::WrongState, 3),
    (Op::Pipeline, 4),
    (Op::DropInRetr, 1),
    (Op::DropAfterDele, 1),
];

struct Client {
    user: Credentials,
    target: Target,
    corpus: Option<Arc<Corpus>>,
    errors: Arc<Errors>,
    rng: fastrand::Rng,
    think_ms: u64,
    max_commands: usize,
    counters: Counters,
    mailbox: Knowledge,
    errors_seen: u64,
    /// IN-USE right after this client's own completed QUIT is an error.
    strict_lock: bool,
    /// Whether the last session ended with a completed QUIT.
    last_quit: bool,
}

/// The server's memory once it is back to the descriptors and threads of `before` and has
/// settled.
async fn settle(server: &ServerArgs, before: Option<Sample>) -> Option<Sample> {
    server.settled(&before?, Duration::from_secs(15)).await
}

/// Runs every client until `deadline`, or its final check when `last`, each in its own task.
async fn phase(clients: Vec<Client>, deadline: Instant, last: bool) -> Result<Vec<Client>, String> {
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                if last {
                    if let Err(fail) = client.final_check().await {
                        client.error(format!("{} final check: {fail}", client.user.user));
                    }
                } else {
                    client.run(deadline).await;
                }
                client
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(tasks.len());
    for task in tasks {
        clients.push(task.await.map_err(|e| format!("client: {e}"))?);
    }
    Ok(clients)
}

impl Client {
    async fn run(&mut self, deadline: Instant) {
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
    fn error(&mut self, message: String) {
        self.errors_seen += 1;
        if self.errors_seen <= 3 {
            self.errors.record(message);
        } else {
            self.errors.count_only();
        }
    }

    async fn pause(&mut self, from_ms: u64, to_ms: u64) {
        let ms = self.rng.u64(from_ms..=to_ms);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    fn chance(&mut self, percent: u8) -> bool {
        self.rng.u8(0..100) < percent
    }

    /// The keyword as given, or sometimes in lower case (keywords are case-insensitive).
    fn keyword(&mut self, keyword: &str) -> String {
        if self.chance(10) {
            keyword.to_ascii_lowercase()
        } else {
            keyword.to_string()
        }
    }

    async fn send(&mut self, conn: &mut Conn, line: &str) -> Result<(), Fail> {
        self.counters.commands += 1;
        conn.send(format!("{line}\r\n").as_bytes()).await
    }

    /// Reads a status line, counting it, with the command in error messages.
    async fn status(&mut self, conn: &mut Conn, line: &str) -> Result<Reply, Fail> {
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

    async fn command(&mut self, conn: &mut Conn, line: &str) -> Result<Reply, Fail> {
        self.send(conn, line).await?;
        self.status(conn, line).await
    }

    async fn session(&mut self, deadline: Instant) -> Result<End, Fail> {
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
    async fn before_login(&mut self, conn: &mut Conn) -> Result<(), Fail> {
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
    async fn listing(&mut self, conn: &mut Conn) -> Result<Vec<Msg>, Fail> {
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
    async fn step(&mut self, conn: &mut Conn, msgs: &mut [Msg]) -> Result<Option<End>, Fail> {
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

    /// A random message that is not marked deleted.
    fn unmarked(&mut self, msgs: &[Msg]) -> Option<usize> {
        let live: Vec<usize> = (0..msgs.len()).filter(|&i| !msgs[i].marked).collect();
        (!live.is_empty()).then(|| live[self.rng.usize(0..live.len())])
    }

    /// A message to address: mostly a live one, sometimes one marked deleted (must be -ERR).
    fn target_message(&mut self, msgs: &[Msg]) -> Option<usize> {
        let marked: Vec<usize> = (0..msgs.len()).filter(|&i| msgs[i].marked).collect();
        if !marked.is_empty() && self.chance(15) {
            return Some(marked[self.rng.usize(0..marked.len())]);
        }
        self.unmarked(msgs)
    }

    /// The command line for `op` and what its reply must be.
    fn plan(&mut self, op: Op, msgs: &[Msg]) -> (String, Check) {
        let live = || msgs.iter().enumerate().filter(|(_, m)| !m.marked);
        let target = self.target_message(msgs);
        let dead = |i: usize| msgs[i].marked;
        match (op, target) {
            (Op::Stat, _) => (
                self.keyword("STAT"),
                Check::Stat(live().count() as u64, live().map(|(_, m)| m.size).sum()),
            ),
            (Op::ListAll, _) => (
                self.keyword("LIST"),
                Check::ListAll(live().map(|(i, m)| (i as u32 + 1, m.size)).collect()),
            ),
            (Op::UidlAll, _) => (
                self.keyword("UIDL"),
                Check::UidlAll(
                    live()
                        .map(|(i, m)| (i as u32 + 1, m.uidl.clone()))
                        .collect(),
                ),
            ),
            (Op::ListOne, Some(i)) => (
                format!("{} {}", self.keyword("LIST"), i + 1),
                if dead(i) {
                    Check::Err
                } else {
                    Check::ListOne(i as u32 + 1, msgs[i].size)
                },
            ),
            (Op::UidlOne, Some(i)) => (
                format!("{} {}", self.keyword("UIDL"), i + 1),
                if dead(i) {
                    Check::Err
                } else {
                    Check::UidlOne(i as u32 + 1, msgs[i].uidl.clone())
                },
            ),
            (Op::Retr, Some(i)) => (
                format!("{} {}", self.keyword("RETR"), i + 1),
                if dead(i) { Check::Err } else { Check::Retr(i) },
            ),
            (Op::Top, Some(i)) => {
                let lines = [0, 1, 3, 10, 99_999_999][self.rng.usize(0..5)];
                (
                    format!("{} {} {lines}", self.keyword("TOP"), i + 1),
                    if dead(i) {
                        Check::Err
                    } else {
                        Check::Top(i, lines)
                    },
                )
            }
            (Op::Dele, Some(i)) => {
                let floor = self.mailbox.initial / 2;
                let line = format!("{} {}", self.keyword("DELE"), i + 1);
                if dead(i) {
                    (line, Check::Err)
                } else if live().count() > floor.max(1) {
                    (line, Check::Dele(i))
                } else {
                    (self.keyword("NOOP"), Check::Ok)
                }
            }
            (Op::Rset, _) => (self.keyword("RSET"), Check::Rset),
            (Op::Capa, _) => (self.keyword("CAPA"), Check::OkMultiLine),
            (Op::Garbage, _) => (self.garbage(), Check::Err),
            (Op::Overlong, _) => {
                let length = self.rng.usize(300..=9000);
                (format!("ZLONG {}", "x".repeat(length)), Check::Overlong)
            }
            (Op::BadNumber, _) => (self.bad_number(msgs.len()), Check::Err),
            (Op::WrongState, _) => {
                let line = [
                    "USER someone",
                    "PASS secret",
                    "APOP someone 0123",
                    "AUTH PLAIN",
                ][self.rng.usize(0..4)];
                (line.to_string(), Check::Err)
            }
            _ => (self.keyword("NOOP"), Check::Ok),
        }
    }

    /// A line that is no command: an unknown keyword, sometimes with 8-bit or control octets.
    fn garbage(&mut self) -> String {
        let word: String = (0..self.rng.usize(2..8))
            .map(|_| self.rng.alphabetic().to_ascii_uppercase())
            .collect();
        match self.rng.u8(0..4) {
            0 => format!("Z{word} {}", self.rng.u32(..)),
            1 => format!("Z{word}\u{e9}\u{1}\t x"),
            2 => format!("{word}Z"),
            _ => format!("Z{word}"),
        }
    }

    /// A message-number command with a number that is wrong or missing.
    fn bad_number(&mut self, count: usize) -> String {
        let bad = [
            "0".to_string(),
            (count + 1).to_string(),
            "4294967296".into(),
            "99999999999999999999999".into(),
            "abc".into(),
            "-1".into(),
            "1x".into(),
        ];
        let number = bad[self.rng.usize(0..bad.len())].clone();
        match self.rng.u8(0..8) {
            0 => format!("LIST {number}"),
            1 => format!("UIDL {number}"),
            2 => format!("DELE {number}"),
            3 => format!("TOP {number} 1"),
            4 => ["RETR", "DELE", "TOP 1", "TOP", "TOP 1 x", "TOP 1 -1"][self.rng.usize(0..6)]
                .to_string(),
            _ => format!("RETR {number}"),
        }
    }

    /// Reads and checks the reply to `line`; `Some` when the session ended.
    async fn finish(
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
    fn verify(&mut self, msg: &Msg, lines: Option<u64>, body: &[u8]) -> Result<(), Fail> {
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
    async fn final_check(&mut self) -> Result<(), Fail> {
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
fn shown(line: &str) -> String {
    if line.len() > 40 || line.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        printable(line.as_bytes())
    } else {
        line.to_string()
    }
}
