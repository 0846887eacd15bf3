//! The round trip of one command in a logged-in session: from writing the command to reading
//! the last line of its reply (the terminator of a multi-line reply), `--samples` times after
//! `--warmup` unmeasured ones.

use crate::client::{two_numbers, Conn, Fail};
use crate::logins::seconds;
use crate::report::{latency_rows, millis, Errors, Report};
use crate::Target;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// The command line to time (e.g. LIST, UIDL, STAT, "RETR 1", "TOP 1 0", NOOP).
    #[arg(long, default_value = "LIST")]
    pub command: String,
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Stop sampling after this long.
    #[arg(long, default_value_t = 120.0)]
    pub seconds: f64,
}

pub async fn run(args: Args) -> Result<Report, String> {
    let user = args.target.users.load()?.remove(0);
    if !(1..=1_000_000).contains(&args.samples) || args.warmup > 1_000_000 {
        return Err("--samples must be 1 to 1000000, --warmup at most 1000000".into());
    }
    let deadline = Instant::now() + seconds(args.seconds)?;
    let multi_line = is_multi_line(&args.command);
    let errors = Errors::default();
    let mut times = Vec::with_capacity(args.samples);
    let mut messages = 0;
    let measured: Result<(), Fail> = async {
        let mut conn = Conn::open(args.target.addr, args.target.timeout(), 64 * 1024).await?;
        conn.login(&user.user, &user.pass).await?.ok("login")?;
        messages = two_numbers(&conn.command("STAT").await?.ok("STAT")?, "STAT")?.0;
        let mut body = Vec::new();
        for i in 0..args.warmup + args.samples {
            if Instant::now() >= deadline {
                break;
            }
            let t0 = Instant::now();
            conn.command(&args.command).await?.ok(&args.command)?;
            if multi_line {
                conn.body(&mut body).await?;
            }
            if i >= args.warmup {
                times.push(t0.elapsed());
            }
        }
        conn.quit().await
    }
    .await;
    if let Err(fail) = measured {
        errors.record(fail);
    }
    let mut report = Report::new("latency");
    report.field("addr", args.target.addr.to_string());
    report.add("command", &args.command, args.command.as_str());
    report.count("messages", messages);
    report.count("samples", times.len() as u64);
    latency_rows(&mut report, "round_trip", &times);
    let mean = times.iter().sum::<Duration>().as_secs_f64() * 1000.0 / times.len().max(1) as f64;
    report.number("round_trip_mean_ms", mean, 3, "ms");
    report.field(
        "samples_ms",
        times.iter().map(|d| millis(*d)).collect::<Vec<f64>>(),
    );
    report.set_errors(&errors);
    Ok(report)
}

/// Whether `+OK` to this command is followed by a multi-line body.
fn is_multi_line(command: &str) -> bool {
    let mut words = command.split_whitespace();
    let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
    let has_argument = words.next().is_some();
    match keyword.as_str() {
        "LIST" | "UIDL" => !has_argument,
        "RETR" | "TOP" | "CAPA" => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn multi_line_commands() {
        use super::is_multi_line;
        assert!(is_multi_line("LIST") && is_multi_line("uidl") && is_multi_line("RETR 1"));
        assert!(!is_multi_line("LIST 1") && !is_multi_line("STAT") && !is_multi_line("NOOP"));
        assert!(is_multi_line("TOP 1 0") && is_multi_line("CAPA"));
    }
}
