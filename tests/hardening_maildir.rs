//! The maildir plugin against a hostile mail store: a user who can write into their
//! own maildir plants symlinks, FIFOs, endless and huge files, truncates a message while it is
//! sent, or owns a maildir pop3host reads as root; and the passwd-file and login timing.
//! Each test is an attack on the real pop3host binary with libmaildir.so over loopback.
//!
//! Each site has its own passwd-file (every password `pw`) and maildirs at
//! `<site>/mail/<user>`, or `<home>/Maildir` for the uid tests. The tests run as root in CI;
//! those that need root (switching to a user's uid) say so and pass trivially without it.

mod common;

use common::maildir_site::MaildirSite;
use common::{try_login, Client, Server, DEADLINE};
use serde_json::json;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

const PASSWORD: &str = "pw";
const SECRET: &str = "TOP SECRET: only root may read this\n";

/// A site with `passwd` as its passwd-file, and a file only root may read (`secret`).
fn new_site(name: &str, passwd: &str) -> MaildirSite {
    let site = MaildirSite::new(&format!("hardening-maildir-{name}"), passwd.as_bytes());
    fs::write(site.root.join("secret"), SECRET).unwrap();
    fs::set_permissions(site.root.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    site
}

fn login(server: &Server, user: &str) -> Client {
    let (c, reply) = try_login(server, user, PASSWORD);
    assert!(
        reply.starts_with("+OK"),
        "{user}: {reply}\n{}",
        server.log()
    );
    c
}

fn retr(c: &mut Client, n: usize) -> Vec<u8> {
    let reply = c.cmd(&format!("RETR {n}"));
    assert!(reply.starts_with("+OK"), "RETR {n}: {reply}");
    c.body()
}

/// The server's peak resident memory, in KiB.
fn peak_rss_kib(server: &Server) -> u64 {
    let status = fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/pid/status")
}

// ---- symlinks ----

#[test]
fn symlinked_message_files_are_skipped_and_never_read() {
    let site = new_site("msg-link", "eve:{PLAIN}pw\n");
    site.deliver("eve", "new/1700000001.M1P1.h", b"hello\n");
    let maildir = site.maildir("eve");
    let secret = site.root.join("secret");
    symlink(&secret, maildir.join("cur/1700000002.M2P1.h:2,")).unwrap();
    symlink(&secret, maildir.join("new/1700000003.M3P1.h,S=36")).unwrap();
    let server = site.start(json!({}));

    let mut c = login(&server, "eve");
    assert_eq!(c.cmd("STAT"), "+OK 1 7\r\n", "only the real message");
    assert_eq!(retr(&mut c, 1), b"hello\r\n");
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    server.wait_for_log("1700000002.M2P1.h:2,");
    server.wait_for_log("1700000003.M3P1.h,S=36");
    assert!(server.log().contains("a symlink, not a message"));
    assert_eq!(fs::read_to_string(&secret).unwrap(), SECRET);
}

#[test]
fn symlinked_cur_or_new_is_refused_and_what_it_points_at_untouched() {
    for sub in ["cur", "new"] {
        let site = new_site(&format!("dir-link-{sub}"), "eve:{PLAIN}pw\n");
        let maildir = site.make("eve");
        // Someone else's mail, which the symlink would have served and deleted.
        let elsewhere = site.root.join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        let other = elsewhere.join("1700000001.M1P1.h:2,");
        fs::write(&other, "not eve's mail\n").unwrap();
        fs::remove_dir(maildir.join(sub)).unwrap();
        symlink(&elsewhere, maildir.join(sub)).unwrap();
        let server = site.start(json!({}));

        let (mut c, reply) = try_login(&server, "eve", PASSWORD);
        if reply.starts_with("+OK") {
            // What the old code did: the other mail is listed, read and deleted.
            let _ = c.cmd("DELE 1");
            let _ = c.cmd("QUIT");
        }
        assert!(reply.starts_with("-ERR [SYS/PERM]"), "{sub}/: {reply}");
        assert!(!reply.contains(&*site.root.to_string_lossy()), "{reply}");
        server.wait_for_log(&format!("cannot open the maildir {}", maildir.display()));
        assert_eq!(fs::read_to_string(&other).unwrap(), "not eve's mail\n");
    }
}

#[test]
fn a_symlinked_lock_file_is_refused_and_creates_nothing() {
    let site = new_site("lock-link", "eve:{PLAIN}pw\n");
    let maildir = site.make("eve");
    let victim = site.root.join("victim");
    symlink(&victim, maildir.join("pop3host.lock")).unwrap();
    let server = site.start(json!({}));

    let (_c, reply) = try_login(&server, "eve", PASSWORD);
    assert!(reply.starts_with("-ERR"), "{reply}");
    assert!(!victim.exists(), "the lock was created through the symlink");
    server.wait_for_log("pop3host.lock: refused: a symlink");
}

#[test]
fn the_size_cache_is_never_read_or_written_through_a_planted_file() {
    let site = new_site("size-cache", "eve:{PLAIN}pw\n");
    let maildir = site.make("eve");
    // Sizes not in the name: measured at login, then the cache is saved.
    site.deliver("eve", "cur/1700000001.M1P1.h:2,", b"one\n");
    let victim = site.root.join("victim");
    fs::write(&victim, "precious\n").unwrap();
    let server = site.start(json!({}));
    // The old temporary name was `pop3host-sizes.tmp.<pid>.<n>`, and the PID is public (it
    // was in the APOP greeting): every name it could take is a symlink to the victim.
    for n in 0..64 {
        let planted = maildir.join(format!("pop3host-sizes.tmp.{}.{n}", server.pid()));
        symlink(&victim, planted).unwrap();
    }
    // The cache itself, a symlink to the victim.
    symlink(&victim, maildir.join("pop3host-sizes")).unwrap();

    let mut c = login(&server, "eve");
    assert_eq!(c.cmd("STAT"), "+OK 1 5\r\n");
    assert!(c.cmd("QUIT").starts_with("+OK"));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    server.wait_for_log("pop3host-sizes: ignored, sizes are measured again: refused: a symlink");
    let cache = maildir.join("pop3host-sizes");
    // The link was replaced by the real cache, the victim never written.
    let started = Instant::now();
    while !fs::symlink_metadata(&cache).unwrap().is_file() {
        assert!(started.elapsed() < DEADLINE, "the cache was never saved");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        fs::read_to_string(&cache).unwrap(),
        "pop3host-sizes 1 1\n5 1700000001.M1P1.h\n"
    );
}

// ---- FIFOs, devices, endless and huge files ----

fn mkfifo(path: &std::path::Path) {
    common::process::run(std::process::Command::new("mkfifo").arg(path));
}

#[test]
fn fifos_and_dev_zero_as_messages_are_skipped_without_blocking() {
    let site = new_site("fifo-msg", "eve:{PLAIN}pw\n");
    site.deliver("eve", "new/1700000001.M1P1.h", b"hello\n");
    let maildir = site.maildir("eve");
    mkfifo(&maildir.join("new/1700000002.M2P1.h"));
    mkfifo(&maildir.join("cur/1700000003.M3P1.h,S=10:2,"));
    symlink("/dev/zero", maildir.join("new/1700000004.M4P1.h")).unwrap();
    // A backend timeout past the client's deadline: a blocked open shows as a hang.
    let timeout = (DEADLINE.as_secs() * 3).to_string();
    let server = site.start_with(json!({}), &["--backend-timeout", &timeout]);

    let mut c = login(&server, "eve");
    assert_eq!(c.cmd("STAT"), "+OK 1 7\r\n");
    assert_eq!(retr(&mut c, 1), b"hello\r\n");
    assert!(c.cmd("QUIT").starts_with("+OK"));
    server.wait_for_log("1700000002.M2P1.h\": a FIFO, not a message");
    server.wait_for_log("1700000004.M4P1.h\": a symlink, not a message");
}

#[test]
fn a_fifo_lock_file_is_refused_without_blocking() {
    let site = new_site("fifo-lock", "eve:{PLAIN}pw\n");
    let maildir = site.make("eve");
    mkfifo(&maildir.join("pop3host.lock"));
    let timeout = (DEADLINE.as_secs() * 3).to_string();
    let server = site.start_with(json!({}), &["--backend-timeout", &timeout]);

    let (_c, reply) = try_login(&server, "eve", PASSWORD);
    assert!(reply.starts_with("-ERR"), "{reply}");
    server.wait_for_log("pop3host.lock: refused: a FIFO");
}

#[test]
fn fifo_and_endless_control_files_are_ignored_with_a_warning() {
    let site = new_site("fifo-control", "eve:{PLAIN}pw\nzed:{PLAIN}pw\n");
    site.deliver("eve", "cur/1700000001.M1P1.h:2,", b"one\n");
    site.deliver("zed", "cur/1700000001.M1P1.h:2,", b"one\n");
    mkfifo(&site.maildir("eve").join("dovecot-uidlist"));
    mkfifo(&site.maildir("eve").join("pop3host-sizes"));
    symlink("/dev/zero", site.maildir("zed").join("dovecot-uidlist")).unwrap();
    symlink("/dev/zero", site.maildir("zed").join("pop3host-sizes")).unwrap();
    let timeout = (DEADLINE.as_secs() * 3).to_string();
    let server = site.start_with(json!({}), &["--backend-timeout", &timeout]);

    for user in ["eve", "zed"] {
        let mut c = login(&server, user);
        // UIDLs from the file names, sizes measured.
        assert_eq!(c.cmd("UIDL 1"), "+OK 1 1700000001.M1P1.h\r\n", "{user}");
        assert_eq!(c.cmd("LIST 1"), "+OK 1 5\r\n", "{user}");
        assert!(c.cmd("QUIT").starts_with("+OK"));
        let uidlist = site.maildir(user).join("dovecot-uidlist");
        server.wait_for_log(&format!("{}: not used", uidlist.display()));
    }
    assert!(server.log().contains("refused: a FIFO"));
    assert!(server.log().contains("refused: a symlink"));
    assert!(peak_rss_kib(&server) < 200 * 1024, "bounded memory");
}

#[test]
fn a_huge_uidlist_is_ignored_not_read_into_memory() {
    let site = new_site("huge-uidlist", "eve:{PLAIN}pw\n");
    site.deliver("eve", "cur/1700000001.M1P1.h:2,", b"one\n");
    // A real regular file of 400 MB (sparse: it costs no disk), far beyond what the uidlist of
    // a one-message maildir needs.
    let uidlist = site.maildir("eve").join("dovecot-uidlist");
    let file = fs::File::create(&uidlist).unwrap();
    file.set_len(400 << 20).unwrap();
    let server = site.start(json!({}));
    let before = peak_rss_kib(&server);

    let mut c = login(&server, "eve");
    assert_eq!(c.cmd("UIDL 1"), "+OK 1 1700000001.M1P1.h\r\n");
    assert!(c.cmd("QUIT").starts_with("+OK"));
    server.wait_for_log("dovecot-uidlist: not used, UIDLs come from the file names: larger than");
    let grown = peak_rss_kib(&server).saturating_sub(before);
    assert!(grown < 100 * 1024, "the server grew by {grown} KiB");
}

// ---- a message truncated while it is sent ----

#[test]
fn a_message_truncated_during_retr_closes_the_connection_without_the_final_dot() {
    let site = new_site("truncated", "eve:{PLAIN}pw\n");
    // Far more than socket buffers and the prefetch hold, so most is read after the cut.
    let line = "x".repeat(78) + "\n";
    let message = format!("Subject: big\n\n{}", line.repeat(640_000)); // 50 MB
    let path = site.deliver("eve", "cur/1700000001.M1P1.h:2,", message.as_bytes());
    let server = site.start(json!({}));

    let mut c = login(&server, "eve");
    let reply = c.cmd("RETR 1");
    assert!(reply.starts_with("+OK"), "{reply}");
    assert!(c.line().starts_with("Subject: big"));
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let rest = c.rest();
    assert!(
        !rest.ends_with(b"\r\n.\r\n"),
        "a cut message was ended with \".\" as if complete ({} bytes)",
        rest.len()
    );
    assert!(rest.len() < message.len());
    server.wait_for_log("lost");
}

// ---- the passwd-file ----

#[test]
fn a_passwd_reload_with_a_bad_line_refuses_that_user_and_applies_the_rest() {
    let site = new_site("reload", "ann:{PLAIN}old\nbob:{PLAIN}pw\n");
    let server = site.start(json!({}));
    login_once(&server, "ann", "old", "+OK");
    login_once(&server, "bob", PASSWORD, "+OK");

    // ann's password changes; bob's line breaks; carl is new.
    fs::write(
        site.root.join("users"),
        "ann:{PLAIN}new\nbob:{NO-SUCH-SCHEME}pw\ncarl:{PLAIN}pw\n",
    )
    .unwrap();
    login_once(&server, "ann", "new", "+OK");
    login_once(&server, "ann", "old", "-ERR [AUTH]");
    // bob's old line does not live on.
    login_once(&server, "bob", PASSWORD, "-ERR [AUTH]");
    login_once(&server, "carl", PASSWORD, "+OK");
    server.wait_for_log(&format!(
        "{}:2: user bob",
        site.root.join("users").display()
    ));
}

/// Logs in and checks the reply to PASS; a session that logged in QUITs and is closed, so the
/// maildrop is free for the next login.
fn login_once(server: &Server, user: &str, pass: &str, expected: &str) {
    let (mut c, reply) = try_login(server, user, pass);
    assert!(reply.starts_with(expected), "{user} {pass}: {reply}");
    if reply.starts_with("+OK") {
        assert!(c.cmd("QUIT").starts_with("+OK"));
        c.closed();
    }
}

// ---- login timing ----

/// How long the reply to PASS takes, for one login on a new connection.
fn pass_time(server: &Server, user: &str, pass: &str) -> Duration {
    let mut c = server.client();
    assert!(c.line().starts_with("+OK"));
    assert!(c.cmd(&format!("USER {user}")).starts_with("+OK"));
    let started = Instant::now();
    let reply = c.cmd(&format!("PASS {pass}"));
    let elapsed = started.elapsed();
    assert!(reply.starts_with("-ERR [AUTH]"), "{user}: {reply}");
    elapsed
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[test]
fn an_unknown_user_costs_what_the_costliest_known_user_costs() {
    // Mostly PLAIN users, and one each of the costly schemes (hashes from the fixture).
    let fixture = fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/maildir/tests/data/users"),
    )
    .unwrap();
    let costly: Vec<&str> = fixture
        .lines()
        .filter(|l| {
            ["sha512:", "blf:", "argon2id:"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(costly.len(), 3);
    let mut passwd: String = (0..50)
        .map(|i| format!("user{i}:{{PLAIN}}pw{i}\n"))
        .collect();
    passwd.push_str(&costly.join("\n"));
    passwd.push('\n');
    let site = new_site("timing", &passwd);
    let server = site.start(json!({}));

    let kinds = ["sha512", "blf", "argon2id", "user7", "nobody-here"];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); kinds.len()];
    let started = Instant::now();
    // Interleaved, so that a busy moment of the machine falls on every kind alike.
    for _ in 0..15 {
        for (kind, user) in kinds.iter().enumerate() {
            samples[kind].push(pass_time(&server, user, "wrong password"));
        }
        assert!(
            started.elapsed() < DEADLINE * 3,
            "logins too slow to measure"
        );
    }
    let medians: Vec<Duration> = samples.into_iter().map(median).collect();
    let costliest = medians[..3].iter().max().unwrap();
    let unknown = medians[4];
    let ratio = unknown.as_secs_f64() / costliest.as_secs_f64();
    eprintln!("medians {kinds:?}: {medians:?}; unknown/costliest = {ratio:.2}");
    assert!(
        (1.0 / 1.5..1.5).contains(&ratio),
        "an unknown user takes {unknown:?}, the costliest known user {costliest:?}"
    );
}

// ---- whose rights ----

#[test]
fn as_root_a_users_files_are_read_with_their_uid() {
    common::require_root("switching to a user's uid needs root");
    let site = new_site("uid-switch", "");
    let home = site.root.join("home/eve");
    fs::write(
        site.root.join("users"),
        format!("eve:{{PLAIN}}pw:65534:65534::{}\n", home.display()),
    )
    .unwrap();
    let maildir = home.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    fs::write(maildir.join("cur/1700000001.M1P1.h:2,"), "hello\n").unwrap();
    // eve plants a hard link to a root-only file (as she could to any file on the same file
    // system); a symlink is refused anyway.
    fs::hard_link(
        site.root.join("secret"),
        maildir.join("cur/1700000002.M2P1.h:2,"),
    )
    .unwrap();
    for dir in ["home", "home/eve"] {
        fs::set_permissions(site.root.join(dir), fs::Permissions::from_mode(0o755)).unwrap();
    }
    common::process::run(
        std::process::Command::new("chown")
            .args(["-R", "--no-dereference", "65534:65534"])
            .arg(&home),
    );
    // chown -R changed the link's inode too: give the secret back to root.
    std::os::unix::fs::chown(site.root.join("secret"), Some(0), Some(0)).unwrap();
    let server = site.start_with(json!({"maildir": "%h/Maildir"}), &[]);

    let mut c = login(&server, "eve");
    let reply = c.cmd("RETR 2");
    assert!(
        reply.starts_with("-ERR"),
        "RETR of the root-only file: {reply}"
    );
    let reply = c.cmd("TOP 2 5");
    assert!(
        reply.starts_with("-ERR"),
        "TOP of the root-only file: {reply}"
    );
    assert_eq!(retr(&mut c, 1), b"hello\r\n");
    c.send(b"QUIT\r\n");
    let received = String::from_utf8_lossy(&c.rest()).into_owned();
    assert!(received.starts_with("+OK"), "{received}");
    // What pop3host wrote for eve is eve's.
    let lock = fs::metadata(maildir.join("pop3host.lock")).unwrap();
    assert_eq!(lock.uid(), 65534);
}

#[test]
fn a_uid_or_gid_below_the_first_valid_is_never_served() {
    common::require_root("the lowered floor is shown by switching to the small uid");
    let site = new_site(
        "first-valid",
        "root:{PLAIN}pw:0:0\nsys:{PLAIN}pw:100:100\nwheel:{PLAIN}pw:1000:0\n",
    );
    for user in ["root", "sys", "wheel"] {
        site.deliver(user, "cur/1700000001.M1P1.h:2,", b"hello\n");
    }
    common::process::run(
        std::process::Command::new("chown")
            .args(["-R", "100:100"])
            .arg(site.maildir("sys")),
    );
    let server = site.start(json!({}));
    for (user, why) in [
        ("root", "uid 0 is below first_valid_uid 500"),
        ("sys", "uid 100 is below first_valid_uid 500"),
        ("wheel", "gid 0 is below first_valid_gid 1"),
    ] {
        let (_c, reply) = try_login(&server, user, PASSWORD);
        assert!(reply.starts_with("-ERR [SYS/PERM]"), "{user}: {reply}");
        server.wait_for_log(&format!("user {user:?} cannot be served: {why}"));
    }
    drop(server);

    // Lowered for a mail user with a small uid: served, with that uid's rights.
    let server = site.start(json!({"first_valid_uid": 100}));
    let mut c = login(&server, "sys");
    assert_eq!(retr(&mut c, 1), b"hello\r\n");
    assert!(c.cmd("QUIT").starts_with("+OK"));
    let lock = fs::metadata(site.maildir("sys").join("pop3host.lock")).unwrap();
    assert_eq!((lock.uid(), lock.gid()), (100, 100));
    let (_c, reply) = try_login(&server, "root", PASSWORD);
    assert!(reply.starts_with("-ERR [SYS/PERM]"), "{reply}");
}

#[test]
fn without_the_right_to_switch_a_maildir_of_another_owner_is_refused() {
    common::require_root("it starts pop3host as root, then as nobody");
    let site = new_site("no-switch", "own:{PLAIN}pw\nmine:{PLAIN}pw\n");
    site.deliver("own", "cur/1700000001.M1P1.h:2,", b"root's\n");
    site.deliver("mine", "cur/1700000001.M1P1.h:2,", b"nobody's\n");
    common::process::run(
        std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(site.maildir("mine")),
    );
    fs::set_permissions(site.root.join("users"), fs::Permissions::from_mode(0o644)).unwrap();
    // Writable by nobody too (a shared mail group, say), so that only the owner check stands
    // between nobody and root's maildir.
    fs::set_permissions(site.maildir("own"), fs::Permissions::from_mode(0o777)).unwrap();

    // pop3host as nobody cannot switch: only maildirs that nobody owns are served.
    let server = site.start_with(json!({}), &["--user", "nobody"]);
    let (_c, reply) = try_login(&server, "own", PASSWORD);
    assert!(reply.starts_with("-ERR [SYS/PERM]"), "{reply}");
    server.wait_for_log(&format!(
        "refusing the maildir {}: owned by uid 0",
        site.maildir("own").display()
    ));
    let mut c = login(&server, "mine");
    assert_eq!(retr(&mut c, 1), b"nobody's\r\n");
    drop(server);

    // Unless every maildir belongs to one mail user.
    let server = site.start_with(json!({"virtual_users": true}), &["--user", "nobody"]);
    let (_c, reply) = try_login(&server, "own", PASSWORD);
    assert!(reply.starts_with("+OK"), "{reply}");
}
