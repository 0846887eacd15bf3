//! The soak: `pop3bench soak` against pop3host with the maildir plugin. Hundreds of
//! sessions at once send random valid and invalid commands, drop and reconnect; the run must
//! meet no protocol error, lose and duplicate no message (the mailboxes end as the corpus minus
//! what completed QUITs deleted), and leave the server's memory near where it started.
//!
//! `SOAK_SECONDS` (default 5) sets the length of the load and `SOAK_SESSIONS` (default 200)
//! the sessions at once, e.g. `SOAK_SECONDS=60 cargo test --test soak -- --nocapture`.

mod common;

use common::process::output_within;
use common::{bin_dir, cargo_build, packages, plugin, Server, TempDir, DEADLINE};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

/// Messages in every user's mailbox.
const MESSAGES: u64 = 30;
/// How far above its warm baseline the server's Pss may stay after the load: generous, so
/// that allocator caching does not make the test flaky; a leak per session or per command
/// over tens of thousands of commands goes beyond it.
const MEMORY_SLACK_KB: u64 = 20 * 1024;
/// The load before the warm baseline. pop3host's first peak of 200 sessions leaves 25-35 MB
/// with glibc's allocator (per-thread arenas of the blocking pool) that later loads reuse
/// rather than grow; the warm baseline is taken after it, with every session closed.
const WARMUP_SECONDS: &str = "2";
/// The bound against the cold start (before any session), for gross leaks.
const COLD_SLACK_KB: u64 = 64 * 1024;

/// Builds pop3bench once, next to pop3host in the same target directory.
fn pop3bench() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            cargo_build(packages(&["pop3bench"]));
            bin_dir().join("pop3bench")
        })
        .clone()
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

/// Runs pop3bench, which may take `seconds` of load on top of the usual deadline.
fn run(args: &[&str], seconds: u64) -> Output {
    let deadline = DEADLINE * 3 + Duration::from_secs(seconds);
    let output = output_within(Command::new(pop3bench()).args(args), deadline);
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}

#[test]
fn soak_loses_no_message_and_gives_memory_back() {
    let seconds = env_number("SOAK_SECONDS", 5);
    let sessions = env_number("SOAK_SESSIONS", 200);
    let site = TempDir::new("soak");
    let (template, users) = (site.join("template"), site.join("users"));

    // Every user's maildir: hard links to one template of tricky messages (line ends, dots,
    // no final newline, 8-bit and NUL octets, long lines), a third of them still in new/.
    let made = run(
        &[
            "corpus",
            "--template",
            path(&template),
            "--messages",
            &MESSAGES.to_string(),
            "--size",
            "6000",
            "--tricky",
            "--write-users",
            path(&users),
            "--user-pattern",
            "soak%d",
            "--users",
            &sessions.to_string(),
            "--home-root",
            path(&site.join("home")),
        ],
        0,
    );
    assert!(made.status.success(), "pop3bench corpus failed");

    let config = serde_json::json!({ "passwd_file": users }).to_string();
    let maildir = plugin("maildir");
    let server = Server::start(&[
        "--plugin",
        path(&maildir),
        "--plugin-config",
        &config,
        "--log-level",
        "info",
        "--max-connections",
        "5000",
    ]);

    let json = site.join("soak.json");
    let soak = run(
        &[
            "soak",
            "--addr",
            &server.addr.to_string(),
            "--user-pattern",
            "soak%d",
            "--users",
            &sessions.to_string(),
            "--sessions",
            &sessions.to_string(),
            "--seconds",
            &seconds.to_string(),
            "--corpus",
            path(&template),
            "--server-pid",
            &server.pid().to_string(),
            "--warmup-seconds",
            WARMUP_SECONDS,
            "--json",
            path(&json),
        ],
        seconds + WARMUP_SECONDS.parse::<u64>().unwrap(),
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap_or_default())
        .unwrap_or_else(|_| panic!("no JSON report; exit status {}", soak.status));
    let figure = |key: &str| {
        report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("no {key} in {report:#}"))
    };

    assert_eq!(figure("errors"), 0, "{:#}", report["error_samples"]);
    assert!(
        soak.status.success(),
        "pop3bench soak exited {}",
        soak.status
    );
    assert!(
        figure("sessions") > sessions && figure("commands") > 10 * sessions,
        "too little load: {report:#}"
    );
    assert!(figure("retrs") > 0 && figure("quits") > 0 && figure("drops") > 0);
    // Every mailbox was checked message by message at the end; what is not there was deleted
    // by a completed QUIT.
    assert_eq!(figure("final_users_checked"), sessions);
    assert_eq!(
        figure("final_messages") + figure("messages_deleted"),
        sessions * MESSAGES
    );
    let (before, warm, peak, after) = (
        figure("before_pss_kb"),
        figure("warm_pss_kb"),
        figure("peak_pss_kb"),
        figure("after_pss_kb"),
    );
    println!("pop3host Pss: before {before} kB, warm {warm} kB, peak {peak} kB, after {after} kB");
    assert!(
        after <= warm + MEMORY_SLACK_KB && after <= before + COLD_SLACK_KB,
        "pop3host kept {after} kB after the load (before {before} kB, warm {warm} kB, \
         peak {peak} kB)"
    );
    // A few descriptors opened once (and kept) are fine; one per session is not.
    assert!(
        figure("after_fds") <= figure("before_fds") + 4,
        "pop3host holds {} descriptors after every session closed, {} before",
        figure("after_fds"),
        figure("before_fds")
    );

    drop(server);
    let _ = std::fs::remove_dir_all(&site);
}
