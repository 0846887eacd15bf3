//! Logins per second: each of `--concurrency` clients repeats connect, greeting, USER/PASS,
//! STAT, QUIT (and waits for the server to close) until `--seconds` pass. Client i logs in as
//! user i (modulo the users given), so with as many users as clients no maildrop lock is
//! contended. With `--tls` each client does TLS (implicit or STLS) and, unless
//! `--no-resumption`, keeps its sessions as a polling mail client does; the report counts the
//! handshakes that resumed.

use crate::client::{two_numbers, Fail};
use crate::report::{latency_rows, Errors, Report};
use crate::tls::{self, TlsArgs, TlsClient};
use crate::users::Credentials;
use crate::Target;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Clients at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// How long to run.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Stop after this many logins in all.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_logins: u64,
}

pub async fn run(args: Args) -> Result<Report, String> {
    let users = args.target.users.load()?;
    if !(1..=10_000).contains(&args.concurrency) {
        return Err("--concurrency must be 1 to 10000".into());
    }
    let run_for = seconds(args.seconds)?;
    let errors = Arc::new(Errors::default());
    let started_logins = Arc::new(AtomicU64::new(0));
    let resumed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + run_for;
    // Each client its own TLS session cache, as each mail client has.
    let clients = (0..args.concurrency)
        .map(|_| args.tls.client())
        .collect::<Result<Vec<_>, _>>()?;
    let mut tasks = Vec::new();
    for (worker, tls) in clients.into_iter().enumerate() {
        let user = users[worker % users.len()].clone();
        let (errors, started_logins, resumed) =
            (errors.clone(), started_logins.clone(), resumed.clone());
        let (addr, timeout, max) = (args.target.addr, args.target.timeout(), args.max_logins);
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while Instant::now() < deadline && started_logins.fetch_add(1, Ordering::Relaxed) < max
            {
                let t0 = Instant::now();
                match login_cycle(addr, timeout, &user, tls.as_ref()).await {
                    Ok(was_resumed) => {
                        times.push(t0.elapsed());
                        if was_resumed == Some(true) {
                            resumed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(fail) => {
                        errors.record(format!("{}: {fail}", user.user));
                        // No busy loop against a server that refuses.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            times
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.map_err(|e| format!("worker: {e}"))?);
    }
    let elapsed = started.elapsed().as_secs_f64();

    let mut report = Report::new("logins");
    report.field("addr", args.target.addr.to_string());
    report.field("tls", args.tls.label());
    report.count("concurrency", args.concurrency as u64);
    report.count("users", users.len().min(args.concurrency) as u64);
    report.count("logins", times.len() as u64);
    report.number("seconds", elapsed, 2, "s");
    report.number("logins_per_s", times.len() as f64 / elapsed, 1, "/s");
    report.count("tls_resumed", resumed.load(Ordering::Relaxed));
    latency_rows(&mut report, "cycle", &times);
    report.set_errors(&errors);
    Ok(report)
}

/// One whole session: (TLS,) greeting, USER, PASS, STAT, QUIT, close; whether TLS resumed.
async fn login_cycle(
    addr: SocketAddr,
    timeout: Duration,
    user: &Credentials,
    tls: Option<&TlsClient>,
) -> Result<Option<bool>, Fail> {
    let (mut conn, resumed) = tls::open(addr, timeout, 1024, tls).await?;
    conn.login(&user.user, &user.pass).await?.ok("login")?;
    let stat = conn.command("STAT").await?.ok("STAT")?;
    two_numbers(&stat, "STAT")?;
    conn.quit().await?;
    Ok(resumed)
}

/// A `--seconds` value as a duration: more than 0, at most an hour.
pub fn seconds(value: f64) -> Result<Duration, String> {
    if value > 0.0 && value <= 3600.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err("--seconds must be more than 0 and at most 3600".into())
    }
}
