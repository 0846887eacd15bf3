//! How long a client waits to see a (large) mailbox: connect, greeting, USER/PASS, STAT and the
//! whole LIST, timed to the LIST terminator, `--repetitions` times in a row. The first login
//! may build caches (sizes, indexes); later ones show the steady state.

use crate::client::{parse_list, two_numbers, Conn, Fail};
use crate::logins::seconds;
use crate::report::{median, millis, Errors, Report};
use crate::users::Credentials;
use crate::Target;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[arg(long, default_value_t = 5)]
    pub repetitions: usize,
    /// Stop repeating after this long.
    #[arg(long, default_value_t = 300.0)]
    pub seconds: f64,
}

pub async fn run(args: Args) -> Result<Report, String> {
    let user = args.target.users.load()?.remove(0);
    if !(1..=1000).contains(&args.repetitions) {
        return Err("--repetitions must be 1 to 1000".into());
    }
    let deadline = Instant::now() + seconds(args.seconds)?;
    let errors = Errors::default();
    let mut times = Vec::new();
    let mut messages = 0;
    for _ in 0..args.repetitions {
        if Instant::now() >= deadline {
            break;
        }
        match login_list(&args.target, &user).await {
            Ok((took, count)) => {
                times.push(took);
                messages = count;
            }
            Err(fail) => {
                errors.record(fail);
                break;
            }
        }
    }
    let ms: Vec<f64> = times.iter().map(|d| millis(*d)).collect();
    let mut report = Report::new("login-list");
    report.field("addr", args.target.addr.to_string());
    report.count("messages", messages);
    report.count("repetitions", ms.len() as u64);
    if let Some(&first) = ms.first() {
        report.number("first_ms", first, 1, "ms");
    }
    if let Some(&second) = ms.get(1) {
        report.number("second_ms", second, 1, "ms");
        report.number("median_after_first_ms", median(&ms[1..]), 1, "ms");
    }
    report.field("all_ms", ms);
    report.set_errors(&errors);
    Ok(report)
}

/// One login + STAT + LIST: how long it took and how many messages were listed.
async fn login_list(target: &Target, user: &Credentials) -> Result<(Duration, u64), Fail> {
    let t0 = Instant::now();
    let mut conn = Conn::open(target.addr, target.timeout(), 64 * 1024).await?;
    conn.login(&user.user, &user.pass).await?.ok("login")?;
    let (count, size) = two_numbers(&conn.command("STAT").await?.ok("STAT")?, "STAT")?;
    conn.command("LIST").await?.ok("LIST")?;
    let mut body = Vec::new();
    conn.body(&mut body).await?;
    let took = t0.elapsed();
    let list = parse_list(&body)?;
    let listed: u64 = list.iter().map(|(_, size)| size).sum();
    if list.len() as u64 != count || listed != size {
        return Err(Fail::protocol(format!(
            "STAT says {count} messages of {size} octets, LIST {} of {listed}",
            list.len()
        )));
    }
    conn.quit().await?;
    Ok((took, count))
}
