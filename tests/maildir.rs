//! The maildir plugin end to end: the real pop3host binary with libmaildir.so on maildirs that
//! each test builds in a temporary directory, driven by a raw TCP client and by real clients
//! (curl, Python's poplib, Perl's Net::POP3).
//!
//! Users come from the plugin's fixture passwd-file (plugins/maildir/tests/data/users: one user
//! per password scheme, every password `password`); maildirs are `<site>/mail/<user>`.
//!
//! Unreadable files: the tests run as root, which reads mode-000 files, so "unreadable" is a
//! symbolic link in place of the message file: the listing skips symlinks, and one put there
//! after the listing is refused at open (`O_NOFOLLOW`), root included. Also covered: a
//! directory in place of a message (refused after `fstat`). Symlinks, FIFOs and other files a
//! hostile mail user plants are tested in tests/hardening_maildir.rs.

mod common;

use common::clients::{
    assert_same, crlf_to_lf, curl_message, curl_sizes, net_pop3_mailbox, poplib_mailbox,
};
use common::maildir_site::MaildirSite;
use common::{crlf_normalized, unstuff, Client, Server, DEADLINE};
use serde_json::json;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PASSWORD: &str = "password";
const AUTH_FAILED: &str = "-ERR [AUTH] Authentication failed.\r\n";
/// The fixture uidlist's UIDVALIDITY (0x6b088c19).
const UID_VALIDITY: u32 = 1_795_722_265;

/// A file of the plugin's own test data.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plugins/maildir/tests/data")
        .join(name)
}

/// A site with the fixture's passwd-file.
fn new_site(name: &str) -> MaildirSite {
    let users = fs::read(fixture("users")).unwrap();
    MaildirSite::new(&format!("maildir-{name}"), &users)
}

/// The base name of a maildir file name: what stays when flags change.
fn base(name: &str) -> &str {
    name.split(':').next().unwrap()
}

/// The size Dovecot writes as `,W=`: every bare LF counted as CRLF, and nothing added for an
/// unterminated last line.
fn dovecot_vsize(message: &[u8]) -> usize {
    let bare_lfs = message
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || message[i - 1] != b'\r'))
        .count();
    message.len() + bare_lfs
}

/// Messages whose wire form is awkward: label and file content.
fn awkward_messages() -> Vec<(&'static str, Vec<u8>)> {
    let long_line = |fill: u8| [vec![fill; 3000], b"\n".to_vec()].concat();
    let eight_bit: Vec<u8> = (0x80..=0xffu8).chain([0, b'\n']).collect();
    vec![
        (
            "dot lines",
            b"Subject: dots\n\n.\n..\n...\n.\n end .\n".to_vec(),
        ),
        (
            "leading dots",
            b".Subject: leading\n\n.hidden\n..x\n.. two\n...three\n".to_vec(),
        ),
        (
            "3000-octet lines",
            [
                b"Subject: long\n\n".to_vec(),
                long_line(b'x'),
                long_line(b'.'),
                b"end\n".to_vec(),
            ]
            .concat(),
        ),
        (
            "8-bit and NUL",
            [
                "Subject: caf\u{e9}\n\n".as_bytes(),
                &eight_bit,
                b"caf\xe9 latin-1\n",
            ]
            .concat(),
        ),
        (
            "CRLF",
            b"Subject: crlf\r\n\r\nline\r\n.\r\n..x\r\nend\r\n".to_vec(),
        ),
        (
            "mixed endings",
            b"Subject: mixed\r\n\nlf\ncrlf\r\nlone cr\r in a line\n\r\n".to_vec(),
        ),
        ("empty body", b"Subject: no body\n\n".to_vec()),
        ("empty file", Vec::new()),
        (
            "no final newline",
            b"Subject: open\n\nno final newline".to_vec(),
        ),
        ("final dot without newline", b"Subject: dot\n\n.".to_vec()),
        ("final CR", b"Subject: cr\n\nends in a CR\r".to_vec()),
    ]
}

/// A deterministic message of about `size` octets: lines of 0 to 199 octets, some starting
/// with dots, some of only a dot, CRLF and LF mixed, 8-bit bytes; ends with LF.
fn big_message(size: usize) -> Vec<u8> {
    let pattern: Vec<u8> = (0..=255u8)
        .filter(|&b| b != b'\r' && b != b'\n')
        .cycle()
        .take(512)
        .collect();
    let mut message = Vec::with_capacity(size + 256);
    message.extend_from_slice(b"Subject: big\n\n");
    let mut state: u32 = 0x2545_f491;
    while message.len() < size {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (state % 200) as usize;
        match state % 11 {
            0 => message.push(b'.'),
            1 => message.extend_from_slice(b".."),
            _ => {}
        }
        if (state >> 20) & 15 != 0 {
            let start = (state >> 8) as usize % 256;
            message.extend_from_slice(&pattern[start..start + len]);
        }
        message.extend_from_slice(if (state >> 24) & 3 == 0 {
            b"\r\n"
        } else {
            b"\n"
        });
    }
    message
}

/// The status line and body of a multi-line listing (LIST, UIDL) as `(number, value)` pairs.
fn listing(c: &mut Client, command: &str) -> Vec<(usize, String)> {
    let status = c.cmd(command);
    assert!(status.starts_with("+OK"), "{command}: {status}");
    String::from_utf8(c.body())
        .unwrap()
        .lines()
        .map(|line| {
            let (n, value) = line.split_once(' ').expect("number and value");
            (n.parse().unwrap(), value.to_string())
        })
        .collect()
}

/// The LIST sizes, in message order (checking the numbering is 1, 2, ...).
fn list_sizes(c: &mut Client) -> Vec<usize> {
    let list = listing(c, "LIST");
    for (i, (n, _)) in list.iter().enumerate() {
        assert_eq!(*n, i + 1, "LIST numbering");
    }
    list.into_iter().map(|(_, v)| v.parse().unwrap()).collect()
}

/// The UIDLs, in message order.
fn uidls(c: &mut Client) -> Vec<String> {
    let list = listing(c, "UIDL");
    for (i, (n, _)) in list.iter().enumerate() {
        assert_eq!(*n, i + 1, "UIDL numbering");
    }
    list.into_iter().map(|(_, v)| v).collect()
}

/// RETR `n`: checks the status line announces `size` (when given) and that every line ends in
/// CRLF; returns the message unstuffed.
fn retr(c: &mut Client, n: usize, size: Option<usize>) -> Vec<u8> {
    let status = c.cmd(&format!("RETR {n}"));
    match size {
        Some(size) => assert_eq!(status, format!("+OK {size} octets\r\n"), "RETR {n}"),
        None => assert!(status.starts_with("+OK"), "RETR {n}: {status}"),
    }
    let wire = c.body();
    assert!(
        wire.split_inclusive(|&b| b == b'\n')
            .all(|line| line.ends_with(b"\r\n")),
        "message {n}: a line without CRLF on the wire"
    );
    unstuff(&wire)
}

/// Logs in as soon as the maildrop is free: the server notices a dropped connection, and so
/// releases the lock, a moment after the client closed it.
fn login_when_free(server: &Server, user: &str) -> Client {
    let started = Instant::now();
    loop {
        let mut c = server.client();
        assert!(c.line().starts_with("+OK"));
        assert!(c.cmd(&format!("USER {user}")).starts_with("+OK"));
        let reply = c.cmd(&format!("PASS {PASSWORD}"));
        if reply.starts_with("+OK") {
            return c;
        }
        assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
        assert!(
            started.elapsed() < DEADLINE,
            "the maildrop stayed locked:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn quit(c: &mut Client) {
    let reply = c.cmd("QUIT");
    assert!(reply.starts_with("+OK"), "{reply}");
}

#[test]
fn retr_sends_every_awkward_file_crlf_normalized_and_list_sizes_are_exact() {
    let site = new_site("corpus");
    // Delivery order is message order: `new/` names without a size, then the same messages
    // in `cur/` with Dovecot's `,S=` and `,W=` (only where Dovecot's W is what RETR sends: see
    // the test below for the others), then 1 MB and 20 MB without a size.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, (_, content)) in awkward_messages().into_iter().enumerate() {
        files.push((format!("new/{}.M{i}P1.corpus", 1_700_000_000 + i), content));
    }
    for (i, (_, content)) in awkward_messages().into_iter().enumerate() {
        if dovecot_vsize(&content) != crlf_normalized(&content).len() {
            continue;
        }
        let name = format!(
            "cur/{}.M{i}P2.corpus,S={},W={}:2,",
            1_700_001_000 + i,
            content.len(),
            dovecot_vsize(&content)
        );
        files.push((name, content));
    }
    // A CRLF across the plugin's 64 KiB read boundary, in a message it has to measure.
    let mut straddling = b"Subject: chunk boundary\n\n".to_vec();
    straddling.resize((64 << 10) - 1, b'a');
    straddling.extend_from_slice(b"\r\n");
    straddling.extend_from_slice(&big_message(1 << 20));
    files.push(("new/1700002000.M0P3.corpus".into(), straddling));
    // 20 MB, measured at the first login, from the size cache at the second.
    files.push(("new/1700002001.M1P3.corpus".into(), big_message(20 << 20)));
    for (path, content) in &files {
        site.deliver("plain", path, content);
    }
    let expected: Vec<Vec<u8>> = files.iter().map(|(_, c)| crlf_normalized(c)).collect();
    let total: usize = expected.iter().map(Vec::len).sum();

    let server = site.start(json!({}));
    // The first login measures the messages without a size; the second takes them from the
    // size cache (and finds the messages in cur/ after the first QUIT).
    for session in 1..=2 {
        let mut c = server.client();
        let reply = c.login("plain", PASSWORD);
        assert_eq!(
            reply,
            format!(
                "+OK Logged in, {} messages ({total} octets).\r\n",
                files.len()
            )
        );
        assert_eq!(c.cmd("STAT"), format!("+OK {} {total}\r\n", files.len()));
        let sizes = list_sizes(&mut c);
        for (n, ((path, _), want)) in files.iter().zip(&expected).enumerate() {
            assert_eq!(sizes[n], want.len(), "session {session}: LIST of {path}");
            assert_eq!(
                c.cmd(&format!("LIST {}", n + 1)),
                format!("+OK {} {}\r\n", n + 1, want.len())
            );
        }
        let ids = uidls(&mut c);
        let names: Vec<&str> = files.iter().map(|(path, _)| base(&path[4..])).collect();
        assert_eq!(ids, names, "session {session}: UIDLs are the base names");
        for (n, ((path, _), want)) in files.iter().zip(&expected).enumerate() {
            if session == 2 && want.len() > 1 << 20 {
                continue; // the big ones once are enough
            }
            let got = retr(&mut c, n + 1, Some(want.len()));
            assert_same(&got, want, &format!("session {session}: RETR of {path}"));
        }
        quit(&mut c);
        site.wait_unlocked("plain");
        // The plugin's debug line at login says how many sizes it had to measure: every file
        // without ,W= the first time, none the second.
        let unsized_files = files.iter().filter(|(p, _)| !p.contains(",W=")).count();
        let measured = if session == 1 { unsized_files } else { 0 };
        server.wait_for_log(&format!(
            "{}: {} messages, {measured} to measure",
            site.maildir("plain").display(),
            files.len()
        ));
        if session == 1 {
            assert!(
                site.maildir("plain").join("pop3host-sizes").is_file(),
                "the size cache was written"
            );
        }
    }
}

/// Dovecot's `,W=` does not count the CRLF a server adds to an unterminated last line. The
/// plugin serves `,W=` as given, as Dovecot does, so that a client moving over sees the same
/// LIST: such a message (rare: delivery agents end every message with a newline) is sent two
/// octets longer than listed (one after a final CR), exactly as by Dovecot. Knowing better
/// would mean opening every file at login, which `,W=` exists to avoid.
#[test]
fn a_dovecot_w_size_is_listed_as_dovecot_lists_it() {
    let site = new_site("w-unterminated");
    let unterminated: Vec<Vec<u8>> = awkward_messages()
        .into_iter()
        .map(|(_, content)| content)
        .filter(|content| dovecot_vsize(content) != crlf_normalized(content).len())
        .collect();
    assert_eq!(unterminated.len(), 3);
    for (i, content) in unterminated.iter().enumerate() {
        site.deliver(
            "plain",
            &format!(
                "cur/{}.M{i}P1.w,S={},W={}:2,",
                1_700_000_000 + i,
                content.len(),
                dovecot_vsize(content)
            ),
            content,
        );
    }
    let server = site.start(json!({}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    let sizes = list_sizes(&mut c);
    for (n, content) in unterminated.iter().enumerate() {
        assert_eq!(sizes[n], dovecot_vsize(content), "LIST is Dovecot's W");
        let sent = retr(&mut c, n + 1, None);
        assert_same(&sent, &crlf_normalized(content), "RETR");
        let added = if content.ends_with(b"\r") { 1 } else { 2 };
        assert_eq!(sent.len(), sizes[n] + added, "the line end the server adds");
    }
    quit(&mut c);
}

/// Every user of the fixture with a password, one per scheme.
fn fixture_users() -> Vec<(String, String)> {
    fs::read_to_string(fixture("users"))
        .unwrap()
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split(':');
            let (user, hash) = (fields.next()?, fields.next().unwrap_or(""));
            (!hash.is_empty()).then(|| (user.to_string(), hash.to_string()))
        })
        .collect()
}

#[test]
fn every_password_scheme_logs_in_and_every_failure_looks_the_same() {
    let users = fixture_users();
    let schemes: Vec<&str> = users
        .iter()
        .map(|(_, hash)| {
            hash.strip_prefix('{')
                .and_then(|h| h.split_once('}'))
                .map_or("(bare $id$)", |(scheme, _)| scheme)
        })
        .collect();
    for scheme in [
        "PLAIN",
        "CLEARTEXT",
        "CRYPT",
        "MD5-CRYPT",
        "SHA256-CRYPT",
        "SHA512-CRYPT",
        "BLF-CRYPT",
        "ARGON2I",
        "ARGON2ID",
        "SSHA",
        "SSHA256",
        "SSHA512",
        "(bare $id$)",
    ] {
        assert!(schemes.contains(&scheme), "no {scheme} user in {schemes:?}");
    }
    let site = new_site("schemes");
    let server = site.start(json!({}));
    for (user, hash) in &users {
        let mut c = server.client();
        assert!(c.line().starts_with("+OK"));
        assert!(c.cmd(&format!("USER {user}")).starts_with("+OK"));
        let reply = c.cmd(&format!("PASS {PASSWORD}"));
        assert!(reply.starts_with("+OK"), "{user} ({hash}): {reply}");
        // No maildir: an empty mailbox.
        assert_eq!(c.cmd("STAT"), "+OK 0 0\r\n", "{user}");
        quit(&mut c);
    }

    let failed_login = |user: &str, password: &str| {
        let mut c = server.client();
        assert!(c.line().starts_with("+OK"));
        assert!(
            c.cmd(&format!("USER {user}")).starts_with("+OK"),
            "USER does not tell whether {user} exists"
        );
        assert_eq!(
            c.cmd(&format!("PASS {password}")),
            AUTH_FAILED,
            "{user}/{password}"
        );
        // The client may start over on the same connection.
        assert!(c.cmd("USER plain").starts_with("+OK"));
        assert!(c.cmd(&format!("PASS {PASSWORD}")).starts_with("+OK"));
        quit(&mut c);
    };
    for user in ["plain", "sha512", "blf", "argon2id", "ssha512", "bare"] {
        failed_login(user, "Password");
    }
    failed_login("nobody", PASSWORD);
    failed_login("locked", PASSWORD);
    failed_login("plain@example.org", PASSWORD);

    // APOP works for the users with a plain password, and only for them.
    let apop = |user: &str, secret: &str| common::try_apop(&server, user, secret).1;
    assert!(apop("plain", PASSWORD).starts_with("+OK"));
    assert!(apop("ann@example.org", PASSWORD).starts_with("+OK"));
    assert_eq!(apop("plain", "Password"), AUTH_FAILED);
    assert_eq!(apop("sha512", PASSWORD), AUTH_FAILED);
    assert_eq!(apop("nobody", PASSWORD), AUTH_FAILED);
}

#[test]
fn an_empty_password_never_logs_in_not_even_to_an_empty_plain_field() {
    // `empty` has `{PLAIN}` with nothing after it; `plain` a real one, so APOP is offered.
    let site = MaildirSite::new(
        "maildir-empty-password",
        b"empty:{PLAIN}\nplain:{PLAIN}secret\n",
    );
    let server = site.start(json!({}));
    // The server does serve this file: the real password logs in, by PASS and by APOP.
    assert!(common::try_login(&server, "plain", "secret")
        .1
        .starts_with("+OK"));
    assert!(common::try_apop(&server, "plain", "secret")
        .1
        .starts_with("+OK"));
    for user in ["empty", "plain"] {
        assert!(
            common::try_login(&server, user, "").1.starts_with("-ERR"),
            "PASS with nothing for {user}"
        );
        // APOP with the digest of the timestamp alone.
        assert_eq!(common::try_apop(&server, user, "").1, AUTH_FAILED, "{user}");
    }
    // AUTH PLAIN "\0empty\0" and "\0plain\0": an empty password.
    for encoded in ["AGVtcHR5AA==", "AHBsYWluAA=="] {
        let mut c = server.client();
        assert!(c.line().starts_with("+OK"));
        assert_eq!(
            c.cmd(&format!("AUTH PLAIN {encoded}")),
            AUTH_FAILED,
            "{encoded}"
        );
    }
    // AUTH LOGIN "empty" with "=", the empty password.
    let mut c = server.client();
    assert!(c.line().starts_with("+OK"));
    assert!(c.cmd("AUTH LOGIN ZW1wdHk=").starts_with("+ "));
    assert_eq!(c.cmd("="), AUTH_FAILED);
}

#[test]
fn a_hash_costlier_than_the_caps_stops_startup_naming_the_limit() {
    // 4 GiB of memory per verification: whoever could store it would choose each login's cost.
    let site = MaildirSite::new(
        "maildir-costly-hash",
        b"ann:{PLAIN}x\nbob:{ARGON2ID}$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA\n",
    );
    let log = common::refused_start(&common::plugin("maildir"), &site.config(json!({})));
    assert!(
        log.contains(":2: user bob: {ARGON2ID}: ARGON2ID hash with memory m (KiB) 4194304 is above the limit of 262144"),
        "{log}"
    );
}

#[test]
fn uidls_survive_sessions_restarts_flag_changes_and_moves() {
    let site = new_site("uidl-stability");
    let long_base = format!("1700000005.{}.host", "L".repeat(70));
    let delivered = [
        "new/1700000001.M1P1.host".to_string(),
        "new/1700000002.M2P2.host".to_string(),
        "cur/1700000003.M3P3.host,S=3:2,S".to_string(),
        "new/1700000004.M4P4.host".to_string(),
        format!("new/{long_base}"),
    ];
    for (i, path) in delivered.iter().enumerate() {
        site.deliver("plain", path, format!("m{i}\n").as_bytes());
    }
    let first = {
        let server = site.start(json!({}));
        let mut c = server.client();
        c.login("plain", PASSWORD);
        let first = uidls(&mut c);
        drop(c);
        // The base names, except the one too long for a UIDL: a 32-digit hash of it.
        assert_eq!(
            &first[..4],
            [
                "1700000001.M1P1.host",
                "1700000002.M2P2.host",
                "1700000003.M3P3.host,S=3",
                "1700000004.M4P4.host"
            ]
        );
        assert!(
            first[4].len() == 32 && first[4].bytes().all(|b| b.is_ascii_hexdigit()),
            "{}",
            first[4]
        );
        let mut c = login_when_free(&server, "plain");
        assert_eq!(uidls(&mut c), first, "second session");
        assert!(retr(&mut c, 1, None).starts_with(b"m0"));
        quit(&mut c); // moves new/ to cur/
        assert!(site.files("plain", "new").is_empty());
        first
    };

    // Another client changes flags and moves a late delivery from new/ to cur/.
    let maildir = site.maildir("plain");
    fs::rename(
        maildir.join("cur/1700000001.M1P1.host:2,S"),
        maildir.join("cur/1700000001.M1P1.host:2,FRS"),
    )
    .unwrap();
    fs::rename(
        maildir.join("cur/1700000002.M2P2.host:2,"),
        maildir.join("cur/1700000002.M2P2.host:2,T"),
    )
    .unwrap();
    site.deliver("plain", "new/1700000006.M6P6.host", b"late\n");
    fs::rename(
        maildir.join("new/1700000006.M6P6.host"),
        maildir.join("cur/1700000006.M6P6.host:2,S"),
    )
    .unwrap();

    let server = site.start(json!({}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    let after = uidls(&mut c);
    assert_eq!(after[..5], first[..], "after a restart, renames and moves");
    assert_eq!(after[5], "1700000006.M6P6.host");
    quit(&mut c);
}

/// The fixture uidlist with the files it lists (but one it lists as gone), plus a message it
/// does not know; returns the files' contents by base name.
fn dovecot_site(name: &str) -> (MaildirSite, Vec<(&'static str, Vec<u8>)>) {
    let site = new_site(name);
    // Sizes match the uidlist's and the names' W= (the plugin trusts them).
    let one = [b"Subject: one\n\n".to_vec(), vec![b'x'; 85], b"\n".to_vec()].concat();
    assert_eq!((one.len(), dovecot_vsize(&one)), (100, 103));
    let sized = |size: usize| [vec![b'y'; size - 2], b"\n".to_vec()].concat();
    let files: Vec<(&str, &str, Vec<u8>)> = vec![
        ("cur", "1700000000.M1P1.mx,S=100,W=103:2,S", one),
        ("new", "1700000100.M2P2.mx", sized(60)),
        (
            "cur",
            "1700000200.M3P3.mx:2,",
            b"Subject: three\n\n.\n".to_vec(),
        ),
        ("new", "1700000300.M4P4.mx", sized(9)),
        (
            "cur",
            "1700000400.M5P5.mx:2,S",
            b"Subject: five\n\nmigrated\n".to_vec(),
        ),
        (
            "cur",
            "1700000500.M6P6.mx:2,S",
            b"Subject: six\r\n\r\nflags in the uidlist\r\n".to_vec(),
        ),
        (
            "new",
            "1700000600.M7P7.mx",
            b"Subject: seven\n\nnot in the uidlist\n".to_vec(),
        ),
    ];
    for (sub, name, content) in &files {
        site.deliver("plain", &format!("{sub}/{name}"), content);
    }
    fs::copy(
        fixture("dovecot-uidlist"),
        site.maildir("plain").join("dovecot-uidlist"),
    )
    .unwrap();
    let contents = files
        .into_iter()
        .map(|(_, name, content)| (base(name), content))
        .collect();
    (site, contents)
}

fn dovecot_uidl(uid: u32) -> String {
    format!("{uid:08x}{UID_VALIDITY:08x}")
}

#[test]
fn dovecot_uidlist_mode_serves_dovecots_uidls_in_dovecots_order() {
    assert_eq!(dovecot_uidl(12), "0000000c6b088c19");
    for mode in ["auto", "dovecot"] {
        let (site, contents) = dovecot_site(&format!("dovecot-{mode}"));
        let uidlist_before = fs::read(site.maildir("plain").join("dovecot-uidlist")).unwrap();
        let server = site.start(json!({ "uidl": mode }));
        // Listed first: the migrated POP3 order (O1); then by UID; then what the uidlist does
        // not know, by delivery time. UID 20's file is gone.
        let expected: Vec<(String, &str)> = vec![
            ("migrated-uidl-5".into(), "1700000400.M5P5.mx"),
            (dovecot_uidl(1), "1700000000.M1P1.mx,S=100,W=103"),
            (dovecot_uidl(2), "1700000100.M2P2.mx"),
            ("1700000200.M3P3.mx".into(), "1700000200.M3P3.mx"),
            (dovecot_uidl(12), "1700000300.M4P4.mx"),
            (dovecot_uidl(14), "1700000500.M6P6.mx"),
            ("1700000600.M7P7.mx".into(), "1700000600.M7P7.mx"),
        ];
        let content = |base: &str| &contents.iter().find(|(b, _)| *b == base).unwrap().1;
        for session in 1..=2 {
            let mut c = server.client();
            c.login("plain", PASSWORD);
            let ids = uidls(&mut c);
            let want: Vec<&str> = expected.iter().map(|(id, _)| id.as_str()).collect();
            assert_eq!(ids, want, "{mode}, session {session}");
            let sizes = list_sizes(&mut c);
            // W60 and W9 come from the uidlist, W=103 from the name.
            assert_eq!((sizes[1], sizes[2], sizes[4]), (103, 60, 9));
            for (n, (_, base)) in expected.iter().enumerate() {
                let want = crlf_normalized(content(base));
                assert_eq!(sizes[n], want.len(), "LIST of {base}");
                assert_same(&retr(&mut c, n + 1, Some(want.len())), &want, base);
            }
            quit(&mut c); // moves new/ to cur/, marks Seen: the UIDLs stay
        }
        assert_eq!(
            fs::read(site.maildir("plain").join("dovecot-uidlist")).unwrap(),
            uidlist_before,
            "the plugin never writes Dovecot's uidlist"
        );
    }
}

#[test]
fn filename_mode_ignores_the_uidlist() {
    let (site, contents) = dovecot_site("dovecot-filename");
    let server = site.start(json!({"uidl": "filename"}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    let bases: Vec<&str> = contents.iter().map(|(base, _)| *base).collect();
    assert_eq!(uidls(&mut c), bases, "base names in delivery order");
    quit(&mut c);
}

#[test]
fn the_maildrop_is_locked_per_session_until_quit_or_disconnect() {
    let site = new_site("lock");
    site.deliver("plain", "new/1700000001.M1P1.host", b"one\n");
    let server = site.start(json!({}));
    let mut first = server.client();
    first.login("plain", PASSWORD);

    let mut second = server.client();
    assert!(second.line().starts_with("+OK"));
    assert!(second.cmd("USER plain").starts_with("+OK"));
    let refused = second.cmd(&format!("PASS {PASSWORD}"));
    assert!(refused.starts_with("-ERR [IN-USE]"), "{refused}");
    // Another user's maildrop is not affected.
    site.deliver("md5", "new/1700000001.M1P1.host", b"other\n");
    let mut other = server.client();
    other.login("md5", PASSWORD);
    assert_eq!(other.cmd("STAT"), "+OK 1 7\r\n");
    quit(&mut other);

    // Released before QUIT is answered: the refused client may try again at once.
    quit(&mut first);
    assert!(second.cmd("USER plain").starts_with("+OK"));
    assert!(second
        .cmd(&format!("PASS {PASSWORD}"))
        .starts_with("+OK Logged in"));

    // Released when the connection drops without QUIT.
    assert_eq!(second.cmd("STAT"), "+OK 1 5\r\n");
    drop(second);
    let mut third = login_when_free(&server, "plain");
    quit(&mut third);
}

#[test]
fn messages_are_deleted_at_quit_and_only_then() {
    let site = new_site("delete");
    for i in 1..=3 {
        site.deliver("plain", &format!("new/170000000{i}.M{i}P1.host"), b"x\n");
    }
    let server = site.start(json!({}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    assert_eq!(c.cmd("STAT"), "+OK 1 3\r\n");
    assert_eq!(site.files("plain", "new").len(), 3, "DELE only marks");
    drop(c);

    // The next session exists only once the dropped one is over: nothing was deleted.
    let mut c = login_when_free(&server, "plain");
    assert_eq!(site.files("plain", "new").len(), 3);
    assert_eq!(c.cmd("STAT"), "+OK 3 9\r\n");
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    assert!(c.cmd("RSET").starts_with("+OK"));
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("DELE 3").starts_with("+OK"));
    assert_eq!(c.cmd("QUIT"), "+OK Logging out, 2 messages deleted.\r\n");
    // Done before the answer to QUIT; the survivor moved to cur/.
    assert!(site.files("plain", "new").is_empty());
    assert_eq!(site.files("plain", "cur"), ["1700000002.M2P1.host:2,"]);
    c.closed();
}

/// Three messages in new/, two in cur/ (one flagged, one seen).
fn seen_site(name: &str) -> MaildirSite {
    let site = new_site(name);
    site.deliver("plain", "new/1700000001.M1P1.host", b"Subject: one\n\n1\n");
    site.deliver("plain", "new/1700000002.M2P2.host", b"Subject: two\n\n2\n");
    site.deliver(
        "plain",
        "new/1700000003.M3P3.host",
        b"Subject: three\n\n3\n",
    );
    site.deliver(
        "plain",
        "cur/1700000004.M4P4.host:2,FT",
        b"Subject: four\n\n4\n",
    );
    site.deliver(
        "plain",
        "cur/1700000005.M5P5.host:2,S",
        b"Subject: five\n\n5\n",
    );
    site
}

/// RETR 1 and 4, TOP 2 (which does not count as reading).
fn read_some(c: &mut Client) {
    retr(c, 1, None);
    assert!(c.cmd("TOP 2 0").starts_with("+OK"));
    c.body();
    retr(c, 4, None);
}

const SEEN_BEFORE_NEW: [&str; 3] = [
    "1700000001.M1P1.host",
    "1700000002.M2P2.host",
    "1700000003.M3P3.host",
];
const SEEN_BEFORE_CUR: [&str; 2] = ["1700000004.M4P4.host:2,FT", "1700000005.M5P5.host:2,S"];

#[test]
fn quit_marks_retrieved_messages_seen_and_moves_new_to_cur() {
    let site = seen_site("seen");
    let server = site.start(json!({}));
    // A dropped session changes nothing.
    let mut c = server.client();
    c.login("plain", PASSWORD);
    read_some(&mut c);
    drop(c);
    let mut c = login_when_free(&server, "plain");
    assert_eq!(site.files("plain", "new"), SEEN_BEFORE_NEW);
    assert_eq!(site.files("plain", "cur"), SEEN_BEFORE_CUR);

    read_some(&mut c);
    quit(&mut c);
    assert!(site.files("plain", "new").is_empty());
    assert_eq!(
        site.files("plain", "cur"),
        [
            "1700000001.M1P1.host:2,S",
            "1700000002.M2P2.host:2,",
            "1700000003.M3P3.host:2,",
            "1700000004.M4P4.host:2,FST",
            "1700000005.M5P5.host:2,S",
        ]
    );
}

#[test]
fn no_flag_updates_leaves_every_file_where_it_is() {
    let site = seen_site("no-flag-updates");
    let server = site.start(json!({"no_flag_updates": true}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    read_some(&mut c);
    assert!(c.cmd("DELE 5").starts_with("+OK"));
    quit(&mut c);
    assert_eq!(site.files("plain", "new"), SEEN_BEFORE_NEW);
    assert_eq!(
        site.files("plain", "cur"),
        SEEN_BEFORE_CUR[..1],
        "only the deletion"
    );
}

/// The maildir plugin declares what a session keeps open (its lock file, and handles on the
/// maildir, cur/ and new/), and the host counts it in what --max-connections needs.
#[test]
fn the_descriptors_a_session_holds_count_at_startup() {
    let site = seen_site("descriptors");
    let server = site.start(json!({}));
    server.wait_for_log("descriptors_per_session=4");
    // The default --max-connections, 1000, at 1 + 4 descriptors each, plus the reserve.
    server.wait_for_log("needed=5064");
}

/// The maildir plugin lets the host prefetch: RETR 2 after RETR 1 is served from a prefetch
/// (through `top`), the prefetch of message 3 is never asked for, and yet exactly the
/// messages retrieved are marked Seen.
#[test]
fn prefetched_messages_are_served_and_only_retrieved_ones_are_marked_seen() {
    let site = seen_site("prefetch");
    let server = site.start(json!({}));
    server.wait_for_log("prefetch=true");
    let mut c = server.client();
    c.login("plain", PASSWORD);
    assert_eq!(retr(&mut c, 1, None), b"Subject: one\r\n\r\n1\r\n");
    assert_eq!(retr(&mut c, 2, None), b"Subject: two\r\n\r\n2\r\n");
    server.wait_for_log("served from a prefetch");
    quit(&mut c);
    assert_eq!(
        site.files("plain", "cur"),
        [
            "1700000001.M1P1.host:2,S",
            "1700000002.M2P2.host:2,S",
            "1700000003.M3P3.host:2,",
            "1700000004.M4P4.host:2,FT",
            "1700000005.M5P5.host:2,S",
        ]
    );
    assert_eq!(server.log().matches("served from a prefetch").count(), 1);
}

/// The blocking call that reads a message that fits in one chunk, a RETR's own or a
/// prefetch's, reads the message after it too: RETR 2 and RETR 4 are served without a call of
/// their own, and the next call makes the `retrieve` calls owed, so exactly the messages
/// retrieved are marked Seen.
#[test]
fn a_call_reads_two_messages_and_the_owed_retrieves_are_made() {
    let site = seen_site("prefetch-two");
    let server = site.start(json!({}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    retr(&mut c, 1, None); // reads 2 too
    assert_eq!(retr(&mut c, 2, None), b"Subject: two\r\n\r\n2\r\n"); // prefetches 3 and 4
    assert_eq!(retr(&mut c, 3, None), b"Subject: three\r\n\r\n3\r\n");
    assert_eq!(retr(&mut c, 4, None), b"Subject: four\r\n\r\n4\r\n");
    server.wait_for_log("retrieve after a prefetch made");
    quit(&mut c);
    assert_eq!(server.log().matches("served from a prefetch").count(), 3);
    assert_eq!(
        server
            .log()
            .matches("read with the message before it")
            .count(),
        2
    );
    assert_eq!(
        site.files("plain", "cur"),
        [
            "1700000001.M1P1.host:2,S",
            "1700000002.M2P2.host:2,S",
            "1700000003.M3P3.host:2,S",
            "1700000004.M4P4.host:2,FST",
            "1700000005.M5P5.host:2,S",
        ]
    );
}

/// A prefetch started before DELE or TOP of its message gives way: DELE marks, TOP reads the
/// message itself, and the last RETR served from a prefetch is still recorded at QUIT.
#[test]
fn a_prefetch_gives_way_to_other_commands_and_its_retr_is_recorded_at_quit() {
    let site = seen_site("prefetch-other");
    let server = site.start(json!({}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    retr(&mut c, 1, None); // reads 2 too
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    assert!(c.cmd("TOP 3 0").starts_with("+OK"));
    assert_eq!(unstuff(&c.body()), b"Subject: three\r\n\r\n");
    assert!(c.cmd("RETR 2").starts_with("-ERR"));
    assert!(c.cmd("DELE 5").starts_with("+OK"));
    retr(&mut c, 3, None); // reads 4 too
    assert_eq!(retr(&mut c, 4, None), b"Subject: four\r\n\r\n4\r\n");
    server.wait_for_log("served from a prefetch");
    quit(&mut c); // 5 is deleted: nothing after 4 to prefetch, so QUIT records it
    assert_eq!(
        site.files("plain", "cur"),
        [
            "1700000001.M1P1.host:2,S",
            "1700000003.M3P3.host:2,S",
            "1700000004.M4P4.host:2,FST",
        ]
    );
}

/// A RETR served from a prefetch owes the plugin its `retrieve` call, and a session that ends
/// without QUIT still makes it: the plugin hears of every message a client retrieved.
#[test]
fn a_session_left_without_quit_still_makes_its_owed_retrieve() {
    let site = seen_site("prefetch-no-quit");
    let server = site.start(json!({}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    retr(&mut c, 4, None); // reads 5 too, the last: nothing after it to prefetch
    assert_eq!(retr(&mut c, 5, None), b"Subject: five\r\n\r\n5\r\n");
    server.wait_for_log("served from a prefetch");
    assert!(!server.log().contains("retrieve after a prefetch"));
    c.close_write();
    c.closed();
    server.wait_for_log("retrieve after a prefetch made");
}

/// A session quiet for a moment gives back its prefetched message: the next RETR reads the
/// message itself, and gets it right.
#[test]
fn a_quiet_session_drops_its_prefetch() {
    let site = seen_site("prefetch-quiet");
    let server = site.start(json!({}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    retr(&mut c, 1, None); // reads 2 too
    server.wait_for_log("quiet: prefetch dropped");
    assert_eq!(retr(&mut c, 2, None), b"Subject: two\r\n\r\n2\r\n");
    quit(&mut c);
    assert!(!server.log().contains("served from a prefetch"));
    assert_eq!(
        site.files("plain", "cur")[..3],
        [
            "1700000001.M1P1.host:2,S",
            "1700000002.M2P2.host:2,S",
            "1700000003.M3P3.host:2,",
        ]
    );
}

/// A RETR right after a TOP of the same message gets a reader that opens the file only when it
/// is read (what spares the `retrieve` owed after a prefetch its open): the client gets the
/// whole message, or the `-ERR` an immediate open gives, and the Seen flag as ever.
#[test]
fn a_retr_right_after_a_top_of_its_message_reads_it_whole_or_fails_as_before() {
    let site = seen_site("top-then-retr");
    let server = site.start(json!({}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    assert!(c.cmd("TOP 2 0").starts_with("+OK"));
    c.body();
    assert_eq!(retr(&mut c, 2, Some(19)), b"Subject: two\r\n\r\n2\r\n");

    assert!(c.cmd("TOP 3 0").starts_with("+OK"));
    c.body();
    let maildir = site.maildir("plain");
    fs::remove_file(maildir.join("new/1700000003.M3P3.host")).unwrap();
    assert_eq!(
        c.cmd("RETR 3"),
        "-ERR message 3 was removed by another client\r\n"
    );
    assert_eq!(c.cmd("NOOP"), "+OK\r\n");
    quit(&mut c);
    assert!(site.files("plain", "new").is_empty());
    assert_eq!(
        site.files("plain", "cur"),
        [
            "1700000001.M1P1.host:2,",
            "1700000002.M2P2.host:2,S",
            "1700000004.M4P4.host:2,FT",
            "1700000005.M5P5.host:2,S",
        ]
    );
}

#[test]
fn a_message_that_vanishes_during_the_session_is_an_error_and_the_session_goes_on() {
    let site = new_site("vanished");
    let contents: [&[u8]; 4] = [b"one\n", b"two\n", b"three\n", b"four\n"];
    for (i, content) in contents.iter().enumerate() {
        site.deliver("plain", &format!("new/170000000{i}.M{i}P1.host"), content);
    }
    let server = site.start(json!({}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    assert_eq!(c.cmd("STAT"), "+OK 4 23\r\n");

    // Another client expunges message 2 and moves message 3 to cur/ with a flag.
    let maildir = site.maildir("plain");
    fs::remove_file(maildir.join("new/1700000001.M1P1.host")).unwrap();
    fs::rename(
        maildir.join("new/1700000002.M2P1.host"),
        maildir.join("cur/1700000002.M2P1.host:2,F"),
    )
    .unwrap();

    for command in ["RETR 2", "TOP 2 0"] {
        let reply = c.cmd(command);
        assert!(reply.starts_with("-ERR"), "{command}: {reply}");
    }
    assert_eq!(c.cmd("NOOP"), "+OK\r\n");
    assert_eq!(retr(&mut c, 3, Some(7)), b"three\r\n", "found in cur/");
    assert_eq!(retr(&mut c, 1, Some(5)), b"one\r\n");
    assert_eq!(retr(&mut c, 4, Some(6)), b"four\r\n");
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    assert_eq!(c.cmd("QUIT"), "+OK Logging out, 1 messages deleted.\r\n");
    assert!(site.files("plain", "new").is_empty());
    assert_eq!(
        site.files("plain", "cur"),
        [
            "1700000000.M0P1.host:2,S",
            "1700000002.M2P1.host:2,FS",
            "1700000003.M3P1.host:2,S",
        ]
    );
}

#[test]
fn a_missing_maildir_is_an_empty_mailbox_unless_create_makes_it() {
    let site = new_site("missing");
    let maildir = site.maildir("plain");
    {
        let server = site.start(json!({}));
        let mut c = server.client();
        c.login("plain", PASSWORD);
        assert_eq!(c.cmd("STAT"), "+OK 0 0\r\n");
        assert!(listing(&mut c, "LIST").is_empty());
        assert!(listing(&mut c, "UIDL").is_empty());
        assert_eq!(c.cmd("RETR 1"), "-ERR No such message.\r\n");
        quit(&mut c);
        assert!(!maildir.exists(), "nothing created");
    }

    let server = site.start(json!({"create": true}));
    let mut c = server.client();
    c.login("plain", PASSWORD);
    assert_eq!(c.cmd("STAT"), "+OK 0 0\r\n");
    for sub in ["cur", "new", "tmp"] {
        let meta = fs::metadata(maildir.join(sub)).unwrap();
        assert!(meta.is_dir(), "{sub}");
        assert_eq!(meta.permissions().mode() & 0o777, 0o700, "{sub}");
    }
    quit(&mut c);
    site.wait_unlocked("plain");
    site.deliver("plain", "new/1700000001.M1P1.host", b"hello\n");
    let mut c = server.client();
    c.login("plain", PASSWORD);
    assert_eq!(c.cmd("STAT"), "+OK 1 7\r\n");
    quit(&mut c);
}

#[test]
fn an_unreadable_message_is_an_error_and_the_session_goes_on() {
    let site = new_site("unreadable");
    site.deliver("plain", "cur/1700000001.M1P1.host:2,", b"one\n");
    // Size known from the name.
    site.deliver("plain", "cur/1700000002.M2P1.host,W=9:2,", b"secret!\n");
    site.make_unreadable("plain", "cur/1700000002.M2P1.host,W=9:2,");
    // Size known from the size cache, once measured.
    site.deliver("plain", "cur/1700000003.M3P1.host:2,", b"cached\n");
    // Size unknown: the login must measure it and cannot.
    site.deliver("plain", "cur/1700000004.M4P1.host:2,", b"unknown\n");
    site.make_unreadable("plain", "cur/1700000004.M4P1.host:2,");
    site.deliver("plain", "cur/1700000005.M5P1.host:2,", b"five\n");
    // Replaced by a directory during the session: `open` succeeds on it, `read` fails.
    site.deliver("plain", "cur/1700000006.M6P1.host:2,", b"six\n");
    // A symbolic link to a directory: listed (the entry is a link), never readable.
    symlink(
        "../tmp",
        site.maildir("plain").join("cur/1700000007.M7P1.host:2,"),
    )
    .unwrap();
    let server = site.start(json!({}));

    // Symlinks (2, 4 and 7) are never messages: skipped at login, with a warning.
    let mut c = server.client();
    let reply = c.login("plain", PASSWORD);
    assert!(reply.starts_with("+OK Logged in, 4 messages"), "{reply}");
    quit(&mut c);
    site.wait_unlocked("plain");
    assert!(
        server.log().contains("1700000007.M7P1.host:2,"),
        "named in the log"
    );

    let mut c = server.client();
    c.login("plain", PASSWORD);
    // Replaced after the listing: by a symlink (refused at open) and by a directory.
    site.make_unreadable("plain", "cur/1700000003.M3P1.host:2,");
    let six = site.maildir("plain").join("cur/1700000006.M6P1.host:2,");
    fs::remove_file(&six).unwrap();
    fs::create_dir(&six).unwrap();
    let sizes = list_sizes(&mut c);
    assert_eq!(sizes, [5, 8, 6, 5]);
    for n in [2, 4] {
        for command in [format!("RETR {n}"), format!("TOP {n} 0")] {
            let reply = c.cmd(&command);
            assert!(reply.starts_with("-ERR"), "{command}: {reply}");
        }
        assert_eq!(c.cmd("NOOP"), "+OK\r\n");
    }
    assert_eq!(retr(&mut c, 1, Some(5)), b"one\r\n");
    assert_eq!(retr(&mut c, 3, Some(6)), b"five\r\n");
    // Deleting the symlink removes the link itself.
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    assert_eq!(
        site.files("plain", "cur"),
        [
            "1700000001.M1P1.host:2,S",
            "1700000002.M2P1.host,W=9:2,",
            "1700000004.M4P1.host:2,",
            "1700000005.M5P1.host:2,S",
            "1700000006.M6P1.host:2,",
            "1700000007.M7P1.host:2,",
        ]
    );
}

// ---- real clients ----

/// A maildir with the awkward messages and a 1 MB one, for the client tests.
fn client_site(name: &str) -> MaildirSite {
    let site = new_site(name);
    for (i, (_, content)) in awkward_messages().into_iter().enumerate() {
        site.deliver(
            "plain",
            &format!("new/{}.M{i}P1.c", 1_700_000_000 + i),
            &content,
        );
    }
    site.deliver("plain", "new/1700001000.big.c", &big_message(1 << 20));
    site
}

/// Every message as a raw client reads it (unstuffed), and the UIDL listing; checks each is
/// its file CRLF-normalized.
fn raw_mailbox(site: &MaildirSite, server: &Server) -> (Vec<Vec<u8>>, String) {
    let mut c = server.client();
    c.login("plain", PASSWORD);
    assert!(c.cmd("UIDL").starts_with("+OK"));
    let uidl = String::from_utf8(c.body()).unwrap();
    let mut messages = Vec::new();
    for (n, line) in uidl.lines().enumerate() {
        let id = line.split_once(' ').unwrap().1;
        let file = site.maildir("plain").join("new").join(id);
        let message = retr(&mut c, n + 1, None);
        assert_same(&message, &crlf_normalized(&fs::read(file).unwrap()), id);
        messages.push(message);
    }
    quit(&mut c);
    site.wait_unlocked("plain");
    (messages, uidl)
}

#[test]
fn curl_fetches_the_maildir_byte_for_byte() {
    let site = client_site("curl");
    let server = site.start(json!({}));
    let (messages, _) = raw_mailbox(&site, &server);
    for (i, expected) in messages.iter().enumerate() {
        site.wait_unlocked("plain"); // curl logs in once per message
        let got = curl_message(server.port(), "plain", PASSWORD, i + 1);
        assert_same(&got, expected, &format!("curl message {}", i + 1));
    }
    site.wait_unlocked("plain");
    let sizes: Vec<String> = messages.iter().map(|m| m.len().to_string()).collect();
    assert_eq!(curl_sizes(server.port(), "plain", PASSWORD), sizes);
}

#[test]
fn python_poplib_fetches_the_maildir_byte_for_byte() {
    let site = client_site("poplib");
    let server = site.start(json!({}));
    let (messages, uidl) = raw_mailbox(&site, &server);
    let (fetched, listed) =
        poplib_mailbox(server.port(), "plain", PASSWORD, &site.root.join("poplib"));
    assert_eq!(fetched.len(), messages.len());
    for (n, (got, want)) in fetched.iter().zip(&messages).enumerate() {
        assert_same(got, want, &format!("poplib message {}", n + 1));
    }
    assert_eq!(listed, uidl.trim_end());
}

#[test]
fn perl_net_pop3_fetches_the_maildir_byte_for_byte() {
    let site = client_site("netpop3");
    let server = site.start(json!({}));
    let (messages, uidl) = raw_mailbox(&site, &server);
    let (fetched, listed) =
        net_pop3_mailbox(server.port(), "plain", PASSWORD, &site.root.join("netpop3"));
    assert_eq!(fetched.len(), messages.len());
    for (n, (got, want)) in fetched.iter().zip(&messages).enumerate() {
        assert_same(
            &crlf_to_lf(got),
            &crlf_to_lf(want),
            &format!("Net::POP3 message {}", n + 1),
        );
    }
    assert_eq!(listed, uidl.trim_end());
}
