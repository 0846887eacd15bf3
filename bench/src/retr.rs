//! RETR throughput: each of `--clients` clients logs in as its own user (so maildrop locks
//! never collide) and downloads the whole mailbox `--rounds` times: LIST, RETR of every
//! message, QUIT. Every message is checked: dot-unstuffed, its octets equal its LIST size, and
//! with `--corpus DIR` equal to the corpus file (CRLF-normalised), found by UIDL = base name or
//! else by content, each corpus message exactly once per round.

use crate::client::{parse_list, parse_uidl, unstuff, Conn, Fail};
use crate::corpus::Corpus;
use crate::logins::seconds;
use crate::report::{Errors, Report};
use crate::users::Credentials;
use crate::Target;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Large enough for a message of a few hundred kilobytes in one read: the client's reads are
/// part of every message's round trip, and should cost the servers measured little.
const READ_BUFFER: usize = 512 * 1024;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Clients at once, each with its own user.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// Whole-mailbox downloads per client.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// The maildir every user's mailbox is a copy of.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Give up after this long (the figures then cover the rounds done).
    #[arg(long, default_value_t = 300.0)]
    pub seconds: f64,
}

#[derive(Default)]
struct Totals {
    rounds: u64,
    messages: u64,
    octets: u64,
    wire_octets: u64,
}

pub async fn run(args: Args) -> Result<Report, String> {
    let users = args.target.users.load()?;
    if args.clients == 0 || args.clients > users.len() {
        return Err(format!(
            "--clients {} needs as many users; {} given",
            args.clients,
            users.len()
        ));
    }
    if !(1..=100_000).contains(&args.rounds) {
        return Err("--rounds must be 1 to 100000".into());
    }
    let corpus = match &args.corpus {
        Some(dir) => Some(Arc::new(Corpus::load(dir)?)),
        None => None,
    };
    let deadline = Instant::now() + seconds(args.seconds)?;
    let errors = Arc::new(Errors::default());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for user in users.into_iter().take(args.clients) {
        let (corpus, errors, target) = (corpus.clone(), errors.clone(), args.target.clone());
        let rounds = args.rounds;
        tasks.push(tokio::spawn(async move {
            let mut totals = Totals::default();
            for _ in 0..rounds {
                if Instant::now() >= deadline {
                    break;
                }
                match download(&target, &user, corpus.as_deref(), &mut totals).await {
                    Ok(()) => totals.rounds += 1,
                    Err(fail) => {
                        errors.record(format!("{}: {fail}", user.user));
                        break;
                    }
                }
            }
            totals
        }));
    }
    let mut totals = Totals::default();
    for task in tasks {
        let t = task.await.map_err(|e| format!("client: {e}"))?;
        totals.rounds += t.rounds;
        totals.messages += t.messages;
        totals.octets += t.octets;
        totals.wire_octets += t.wire_octets;
    }
    let elapsed = started.elapsed().as_secs_f64();

    let mut report = Report::new("retr");
    report.field("addr", args.target.addr.to_string());
    report.count("clients", args.clients as u64);
    report.count("rounds", totals.rounds);
    report.count("messages", totals.messages);
    report.count("octets", totals.octets);
    report.count("wire_octets", totals.wire_octets);
    report.add("verified", corpus.is_some(), corpus.is_some());
    report.number("seconds", elapsed, 3, "s");
    report.number("mb_per_s", totals.octets as f64 / 1e6 / elapsed, 1, "MB/s");
    report.set_errors(&errors);
    Ok(report)
}

/// One whole-mailbox download.
async fn download(
    target: &Target,
    user: &Credentials,
    corpus: Option<&Corpus>,
    totals: &mut Totals,
) -> Result<(), Fail> {
    let mut conn = Conn::open(target.addr, target.timeout(), READ_BUFFER).await?;
    conn.login(&user.user, &user.pass).await?.ok("login")?;
    let mut body = Vec::new();
    conn.command("LIST").await?.ok("LIST")?;
    conn.body(&mut body).await?;
    let list = parse_list(&body)?;
    let uidls = if corpus.is_some() {
        conn.command("UIDL").await?.ok("UIDL")?;
        conn.body(&mut body).await?;
        let uidls = parse_uidl(&body)?;
        if !uidls.iter().map(|(n, _)| n).eq(list.iter().map(|(n, _)| n)) {
            return Err(Fail::protocol("UIDL and LIST number different messages"));
        }
        uidls.into_iter().map(|(_, uidl)| uidl).collect()
    } else {
        Vec::new()
    };
    if let Some(corpus) = corpus {
        if list.len() != corpus.len() {
            return Err(Fail::protocol(format!(
                "{} messages where the corpus has {}",
                list.len(),
                corpus.len()
            )));
        }
    }
    let mut seen = vec![false; corpus.map_or(0, Corpus::len)];
    for (i, &(n, size)) in list.iter().enumerate() {
        conn.command(&format!("RETR {n}")).await?.ok("RETR")?;
        let wire = conn.wire_body().await?;
        let found = match corpus.and_then(|corpus| corpus.identify_wire(&uidls[i], size, wire)) {
            Some(found) => Some(found),
            // Not the corpus message as sent: the slow checks say what is wrong.
            None => {
                unstuff(wire, &mut body)?;
                if body.len() as u64 != size {
                    return Err(Fail::protocol(format!(
                        "RETR {n}: {} octets where LIST said {size}",
                        body.len()
                    )));
                }
                corpus
                    .map(|corpus| corpus.identify(&uidls[i], &body))
                    .transpose()
                    .map_err(Fail::Protocol)?
            }
        };
        if let (Some(corpus), Some(found)) = (corpus, found) {
            if std::mem::replace(&mut seen[found], true) {
                return Err(Fail::protocol(format!(
                    "RETR {n}: corpus message {} served twice",
                    corpus.messages[found].base
                )));
            }
        }
        totals.messages += 1;
        totals.octets += size;
    }
    conn.quit().await?;
    totals.wire_octets += conn.bytes_read;
    Ok(())
}
