//! pop3bench: measures and soaks any POP3 server on loopback.
//!
//! Every subcommand is bounded in count and in time, prints a table, writes the same figures
//! as JSON with `--json FILE`, and exits non-zero when it met an error (exit status 2: it could
//! not run at all). See bench/run.sh for the side-by-side run against Dovecot.

mod client;
mod corpus;
mod idle;
mod latency;
mod login_list;
mod logins;
mod make_corpus;
mod memory;
mod report;
mod retr;
mod schemes;
mod soak;
mod users;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use users::UserArgs;

#[derive(Parser)]
#[command(
    name = "pop3bench",
    version,
    about = "Benchmarks and soaks a POP3 server on loopback"
)]
struct Cli {
    /// Worker threads of the client (default: one per CPU).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Logins per second: connect, USER/PASS, STAT, QUIT, from many clients at once.
    Logins(logins::Args),
    /// RETR throughput: each client downloads its whole mailbox, every byte checked.
    Retr(retr::Args),
    /// Percentiles of one command's round trip in a logged-in session.
    Latency(latency::Args),
    /// Server memory per idle logged-in session.
    Idle(idle::Args),
    /// Time of login + STAT + LIST (for a very large mailbox), repeated.
    LoginList(login_list::Args),
    /// Many sessions of random valid and invalid commands, drops and reconnects; checks every
    /// reply and that no message is lost or duplicated.
    Soak(soak::Args),
    /// Writes a maildir of generated messages and users whose maildirs link to it.
    Corpus(make_corpus::Args),
    /// CPU per password verification for each scheme at its usual parameters, and per hit
    /// of the authentication cache (no server needed).
    Schemes(schemes::Args),
}

/// The server to talk to, how patiently, and as whom.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// The server's POP3 address; loopback only (127.0.0.0/8 or ::1).
    #[arg(long, default_value = "127.0.0.1:110")]
    pub addr: SocketAddr,
    /// Seconds any single connect, read or write may take.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub users: UserArgs,
}

impl Target {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }

    fn check(&self) -> Result<(), String> {
        if !self.addr.ip().is_loopback() {
            return Err(format!(
                "{} is not a loopback address: pop3bench only drives servers on this machine",
                self.addr
            ));
        }
        if !(self.timeout > 0.0 && self.timeout <= 3600.0) {
            return Err("--timeout must be between 0 and 3600 seconds".into());
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let target = match &cli.command {
        Command::Logins(a) => Some(&a.target),
        Command::Retr(a) => Some(&a.target),
        Command::Latency(a) => Some(&a.target),
        Command::Idle(a) => Some(&a.target),
        Command::LoginList(a) => Some(&a.target),
        Command::Soak(a) => Some(&a.target),
        Command::Corpus(_) | Command::Schemes(_) => None,
    };
    let json = match &cli.command {
        Command::Schemes(a) => a.json.clone(),
        _ => target.and_then(|t| t.json.clone()),
    };
    let result = target.map_or(Ok(()), Target::check).and_then(|()| {
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        if let Some(threads) = cli.threads {
            runtime.worker_threads(threads.max(1));
        }
        let runtime = runtime
            .enable_all()
            .build()
            .map_err(|e| format!("tokio: {e}"))?;
        runtime.block_on(async move {
            match cli.command {
                Command::Logins(args) => logins::run(args).await,
                Command::Retr(args) => retr::run(args).await,
                Command::Latency(args) => latency::run(args).await,
                Command::Idle(args) => idle::run(args).await,
                Command::LoginList(args) => login_list::run(args).await,
                Command::Soak(args) => soak::run(args).await,
                Command::Corpus(args) => make_corpus::run(args),
                Command::Schemes(args) => schemes::run(args),
            }
        })
    });
    match result {
        Ok(report) => {
            report.print();
            if let Some(path) = json {
                if let Err(error) = report.write_json(&path) {
                    eprintln!("pop3bench: {error}");
                    return ExitCode::from(2);
                }
            }
            if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("pop3bench: {error}");
            ExitCode::from(2)
        }
    }
}
