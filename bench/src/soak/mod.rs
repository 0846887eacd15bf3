//! The soak: `--sessions` clients at once, each on its own user, open session after
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

mod checks;
mod client;
mod commands;
mod counters;

use crate::corpus::Corpus;
use crate::idle::memory_rows;
use crate::logins::seconds;
use crate::memory::{Sample, ServerArgs};
use crate::report::{Errors, Report};
use crate::Target;
use client::Client;
use counters::Counters;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
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
    /// The server whose memory is sampled (before, at its peak, after).
    #[command(flatten)]
    pub server: ServerArgs,
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
pub(super) const MAX_SESSIONS_PER_CLIENT: usize = 100_000;
/// How long the final check waits for a user's maildrop lock to be released.
pub(super) const FINAL_LOCK_WAIT: Duration = Duration::from_secs(10);

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
        .map(|(i, user)| {
            let rng = fastrand::Rng::with_seed(seed.wrapping_add(i as u64));
            Client::new(user, &args, corpus.clone(), errors.clone(), rng)
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
    report.number(
        "commands_per_s",
        totals.commands as f64 / load_seconds,
        0,
        "/s",
    );
    for (name, value) in totals.rows() {
        report.count(name, value);
    }
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
