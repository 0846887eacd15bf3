//! Crash safety of the maildir backend: pop3host is killed with SIGKILL at varied moments
//! while it applies a large deletion at QUIT. After every kill each message is wholly present
//! (same bytes) or wholly gone (and then it was marked deleted), the survivors keep their
//! UIDLs, and the next login works: the kernel released the lock.

mod common;

use common::{plugin, Client, Server, TempDir, DEADLINE};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

const MESSAGES: usize = 1000;
const KILLS: usize = 10;
/// How many of the kills must land after the first deletion and before the last.
const MIDDLE_KILLS: usize = 8;

fn message(i: usize) -> Vec<u8> {
    format!(
        "Subject: message {i}\r\nMessage-ID: <{i}@crash.test>\r\n\r\n{}\r\n",
        "body line\r\n".repeat(i % 7 + 1)
    )
    .into_bytes()
}

/// The base name of message `i` (the part before `:2,`), which is also its UIDL.
fn base_name(i: usize) -> String {
    format!("{}.M{i}P1.crash", 1_700_000_000 + i)
}

fn make_maildir(root: &Path) -> PathBuf {
    let home = root.join("home");
    let maildir = home.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for i in 0..MESSAGES {
        // Half in new/ (moved to cur/ at QUIT), half in cur/ (flagged at QUIT when read).
        let path = match i % 2 {
            0 => maildir.join("new").join(base_name(i)),
            _ => maildir.join("cur").join(format!("{}:2,", base_name(i))),
        };
        std::fs::write(path, message(i)).unwrap();
    }
    let users = root.join("users");
    std::fs::write(
        &users,
        format!("crash:{{PLAIN}}pw::::{}::\n", home.display()),
    )
    .unwrap();
    users
}

/// Every message file on disk, by base name, with its bytes. Panics on a base name found
/// twice (a rename that left both names behind).
fn on_disk(maildir: &Path) -> HashMap<String, Vec<u8>> {
    let mut found = HashMap::new();
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(maildir.join(sub)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let base = name.split(":2,").next().unwrap().to_string();
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(
                found.insert(base.clone(), bytes).is_none(),
                "{base} is on disk twice"
            );
        }
    }
    found
}

/// A small deterministic generator, so every run kills at the same varied moments.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Logs in, reads about a sixth of the messages (their flags change at QUIT), marks about a
/// third for deletion and sends QUIT. Returns the UIDLs marked, and the client, whose
/// connection must stay open: the server must not see the client leave.
fn session_up_to_quit(server: &Server, rng: &mut u64) -> (Client, Vec<String>) {
    let mut c = server.client();
    c.login("crash", "pw");
    c.cmd("UIDL");
    let listing = String::from_utf8(c.body()).unwrap();
    let mut marked = Vec::new();
    let mut pipeline = String::new();
    for (n, uidl) in listing.lines().map(|l| l.split_once(' ').unwrap()) {
        match next(rng) % 6 {
            0 | 1 => {
                pipeline.push_str(&format!("DELE {n}\r\n"));
                marked.push(uidl.to_string());
            }
            2 => pipeline.push_str(&format!("RETR {n}\r\n")),
            _ => {}
        }
    }
    c.send(pipeline.as_bytes());
    for line in pipeline.lines() {
        let reply = c.line();
        assert!(reply.starts_with("+OK"), "{line}: {reply}");
        if line.starts_with("RETR") {
            c.body();
        }
    }
    c.send(b"QUIT\r\n");
    (c, marked)
}

/// How many of the `marked` messages are still on disk. `new/` is read before `cur/`, so a
/// message that moves from one to the other meanwhile is seen once or twice, never missed.
fn marked_on_disk(maildir: &Path, marked: &HashSet<String>) -> usize {
    let mut found = HashSet::new();
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(maildir.join(sub)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let base = name.split(":2,").next().unwrap();
            if marked.contains(base) {
                found.insert(base.to_string());
            }
        }
    }
    found.len()
}

/// Waits until at least `count` of the `marked` messages are gone: the deletion has begun.
fn wait_until_deleted(maildir: &Path, marked: &HashSet<String>, count: usize) {
    let started = Instant::now();
    while marked.len() - marked_on_disk(maildir, marked) < count {
        assert!(
            started.elapsed() < DEADLINE,
            "the server did not delete {count} of the {} marked messages",
            marked.len()
        );
    }
}

#[test]
fn killing_the_server_during_update_loses_or_tears_nothing() {
    let root = TempDir::new("crash");
    let maildir = root.join("home/Maildir");
    let config = json!({"passwd_file": root.join("users")}).to_string();
    let path = plugin("maildir");
    let start = || {
        Server::start(&[
            "--plugin",
            path.to_str().unwrap(),
            "--plugin-config",
            &config,
        ])
    };
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;

    let mut interrupted = 0;
    for _ in 0..KILLS {
        let _ = std::fs::remove_dir_all(root.join("home"));
        make_maildir(&root);
        let mut server = start();
        let (_client, marked) = session_up_to_quit(&server, &mut rng);
        let marked: HashSet<String> = marked.into_iter().collect();
        // Kill once the deletion is under way, at a varied depth into it.
        let depth = 1 + next(&mut rng) as usize % (marked.len() / 2);
        wait_until_deleted(&maildir, &marked, depth);
        server.kill();

        let disk = on_disk(&maildir);
        let gone = marked.iter().filter(|u| !disk.contains_key(*u)).count();
        interrupted += usize::from(gone > 0 && gone < marked.len());
        for i in 0..MESSAGES {
            let base = base_name(i);
            match disk.get(&base) {
                Some(bytes) => assert_eq!(bytes, &message(i), "{base} is torn"),
                None => assert!(marked.contains(&base), "{base} vanished without DELE"),
            }
        }
        // The survivors keep their UIDLs, and the lock went with the process.
        let server = start();
        let mut c = server.client();
        c.login("crash", "pw");
        c.cmd("UIDL");
        let after = String::from_utf8(c.body()).unwrap();
        let mut survivors: Vec<&str> = after
            .lines()
            .map(|l| l.split_once(' ').unwrap().1)
            .collect();
        survivors.sort_unstable();
        let mut expected: Vec<&str> = disk.keys().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(survivors, expected);
        assert!(c.cmd("QUIT").starts_with("+OK"));
    }
    eprintln!("{KILLS} kills, {interrupted} in the middle of the deletions");
    assert!(
        interrupted >= MIDDLE_KILLS,
        "only {interrupted} of {KILLS} kills landed inside the deletions; the test proves little"
    );
}
