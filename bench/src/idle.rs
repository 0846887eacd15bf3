//! Memory per idle session: the server's Pss (summed over its processes) before, then with
//! `--sessions` logged-in sessions (USER/PASS, STAT, with `--retrieve N` a RETR of message N,
//! then nothing) held open, and after they close; with `--tls`, TLS sessions. Session i logs in
//! as user i (modulo the users given). The client raises its own RLIMIT_NOFILE; the server
//! needs one descriptor per session or more (`ulimit -n`).

use crate::client::{two_numbers, Conn, Fail};
use crate::logins::seconds;
use crate::memory::{Sample, ServerArgs};
use crate::report::{Errors, Report};
use crate::tls::{self, TlsArgs, TlsClient};
use crate::users::Credentials;
use crate::Target;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Sessions to hold open.
    #[arg(long, default_value_t = 10_000)]
    pub sessions: usize,
    /// Logins in progress at once while opening them.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Seconds to wait with every session open before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub settle_seconds: f64,
    /// Give up opening sessions after this long.
    #[arg(long, default_value_t = 300.0)]
    pub seconds: f64,
    /// Retrieve this message in each session before it idles: the memory a session keeps
    /// after a download.
    #[arg(long, value_name = "N")]
    pub retrieve: Option<u32>,
}

pub async fn run(args: Args) -> Result<Report, String> {
    let users = args.target.users.load()?;
    if !(1..=100_000).contains(&args.sessions) || !(1..=1000).contains(&args.connect_concurrency) {
        return Err("--sessions must be 1 to 100000, --connect-concurrency 1 to 1000".into());
    }
    if !args.server.wanted() {
        return Err("say which server to measure: --server-pid or --server-pids-from-name".into());
    }
    let wanted = args.sessions as u64 + 256;
    let limit = rlimit::increase_nofile_limit(wanted).map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
    if limit < wanted {
        return Err(format!(
            "RLIMIT_NOFILE is {limit}, {wanted} needed: raise the hard limit (ulimit -Hn) first"
        ));
    }
    let settle = seconds(args.settle_seconds)?;
    let deadline = Instant::now() + seconds(args.seconds)?;
    let before = args
        .server
        .sample()
        .ok_or("the server process is not running")?;

    let errors = Arc::new(Errors::default());
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    // One client for all: idle sessions measure the server, not handshakes.
    let tls = Arc::new(args.tls.client()?);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.sessions);
    for i in 0..args.sessions {
        let user = users[i % users.len()].clone();
        let (gate, errors, tls) = (gate.clone(), errors.clone(), tls.clone());
        let (addr, timeout, retrieve) = (args.target.addr, args.target.timeout(), args.retrieve);
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.ok()?;
            if Instant::now() >= deadline {
                return None;
            }
            open_idle(addr, timeout, &user, retrieve, tls.as_ref().as_ref())
                .await
                .map_err(|fail| errors.record(format!("{}: {fail}", user.user)))
                .ok()
        }));
    }
    let mut sessions = Vec::with_capacity(args.sessions);
    for task in tasks {
        if let Some(conn) = task.await.map_err(|e| format!("session: {e}"))? {
            sessions.push(conn);
        }
    }
    let ramp = started.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let with = args.server.sample().ok_or("the server process is gone")?;

    // Every session must still be alive.
    let mut alive = 0u64;
    for conn in &mut sessions {
        match conn.command("NOOP").await.and_then(|r| r.ok("NOOP")) {
            Ok(_) => alive += 1,
            Err(fail) => errors.record(format!("idle session: {fail}")),
        }
    }
    let held = sessions.len() as u64;
    drop(sessions);
    let after = args
        .server
        .settled(&before, Duration::from_secs(15))
        .await
        .unwrap_or_default();

    let mut report = Report::new("idle");
    report.field("addr", args.target.addr.to_string());
    report.field("tls", args.tls.label());
    report.count("sessions", held);
    report.count("alive_after_settling", alive);
    report.number("ramp_seconds", ramp, 2, "s");
    report.number("sessions_per_s", held as f64 / ramp, 1, "/s");
    memory_rows(&mut report, "before", &before);
    memory_rows(&mut report, "with_sessions", &with);
    memory_rows(&mut report, "after_close", &after);
    let per_session = |a: u64, b: u64| (b as f64 - a as f64) / held.max(1) as f64;
    report.number(
        "pss_kb_per_session",
        per_session(before.pss_kb, with.pss_kb),
        1,
        "kB",
    );
    report.number(
        "rss_kb_per_session",
        per_session(before.rss_kb, with.rss_kb),
        1,
        "kB",
    );
    report.set_errors(&errors);
    Ok(report)
}

async fn open_idle(
    addr: SocketAddr,
    timeout: Duration,
    user: &Credentials,
    retrieve: Option<u32>,
    tls: Option<&TlsClient>,
) -> Result<Conn, Fail> {
    let (mut conn, _) = tls::open(addr, timeout, 512, tls).await?;
    conn.login(&user.user, &user.pass).await?.ok("login")?;
    two_numbers(&conn.command("STAT").await?.ok("STAT")?, "STAT")?;
    if let Some(n) = retrieve {
        conn.command(&format!("RETR {n}")).await?.ok("RETR")?;
        conn.wire_body().await?;
    }
    Ok(conn)
}

/// Pss, Rss, processes and descriptors of a sample, as `<name>_pss_kb`...
pub fn memory_rows(report: &mut Report, name: &str, sample: &Sample) {
    report.count(&format!("{name}_pss_kb"), sample.pss_kb);
    report.count(&format!("{name}_rss_kb"), sample.rss_kb);
    report.count(&format!("{name}_processes"), sample.processes as u64);
    report.count(&format!("{name}_threads"), sample.threads as u64);
    report.count(&format!("{name}_fds"), sample.fds as u64);
}
