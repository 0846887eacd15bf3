//! The plugin author's kit, end to end: the crates in `examples/` and a crate made by
//! `examples/new-plugin.sh`, each built, loaded into the real pop3host and fetched from.

mod common;

use common::{
    assert_check_passes, bin_dir, cargo_build, check, crlf_normalized, packages, unstuff, Client,
    Server, TempDir,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn release() -> bool {
    bin_dir().ends_with("release")
}

/// Builds the example plugins once per test binary: `cargo test` does not build the cdylibs
/// of other workspace members. (pop3host itself comes from the common harness.)
fn example(lib: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| cargo_build(packages(&["hello-plugin", "sqlite-plugin"])));
    bin_dir().join(format!("lib{lib}.so"))
}

fn serve(plugin: &Path, config: Option<&str>) -> Server {
    let mut args = vec!["--plugin", plugin.to_str().unwrap()];
    if let Some(config) = config {
        args.extend(["--plugin-config", config]);
    }
    Server::start(&args)
}

/// A fresh directory of one test, removed at its end.
fn temp_dir(name: &str) -> TempDir {
    TempDir::new(&format!("examples-{name}"))
}

/// Sends a command whose answer is multi-line; returns the body as on the wire.
fn multi(c: &mut Client, command: &str) -> String {
    let status = c.cmd(command);
    assert!(status.starts_with("+OK"), "{command}: {status}");
    String::from_utf8(c.body()).unwrap()
}

fn refused(server: &Server, user: &str, pass: &str) -> String {
    let mut c = server.client();
    assert!(c.line().starts_with("+OK"));
    assert!(c.cmd(&format!("USER {user}")).starts_with("+OK"));
    c.cmd(&format!("PASS {pass}"))
}

// --- hello -----------------------------------------------------------------------------

const HELLO: [(&str, &str); 3] = [
    ("hello-1", "Subject: Hello\r\n\r\nHello, world!\r\n"),
    ("hello-2", "Subject: Dots\r\n\r\n.a line with a dot\r\n"),
    ("hello-3", "Subject: Bye\r\n\r\nDelete me.\r\n"),
];

#[test]
fn hello_serves_lists_locks_and_deletes_in_memory() {
    let server = serve(&example("hello_plugin"), None);
    let mut c = server.client();
    c.login("hello", "world");

    let list: String = (HELLO.iter().enumerate())
        .map(|(i, (_, text))| format!("{} {}\r\n", i + 1, text.len()))
        .collect();
    assert_eq!(multi(&mut c, "LIST"), list);
    assert_eq!(
        multi(&mut c, "UIDL"),
        "1 hello-1\r\n2 hello-2\r\n3 hello-3\r\n"
    );
    assert_eq!(
        multi(&mut c, "RETR 2"),
        "Subject: Dots\r\n\r\n..a line with a dot\r\n"
    );
    assert_eq!(multi(&mut c, "RETR 1"), HELLO[0].1);

    // One session per maildrop.
    let reply = refused(&server, "hello", "world");
    assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
    let reply = refused(&server, "hello", "wrong");
    assert!(reply.starts_with("-ERR [AUTH]"), "{reply}");

    assert!(c.cmd("DELE 3").starts_with("+OK"));
    assert_eq!(c.cmd("QUIT"), "+OK Logging out, 1 messages deleted.\r\n");
    c.closed();

    // The deletion lasts as long as the server; the lock went with the session.
    let mut c = server.client();
    c.login("hello", "world");
    assert_eq!(multi(&mut c, "UIDL"), "1 hello-1\r\n2 hello-2\r\n");
    // A dropped connection deletes nothing and releases the lock.
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    drop(c);
    let mut c = server.client();
    let started = std::time::Instant::now();
    loop {
        assert!(c.line().starts_with("+OK"));
        assert!(c.cmd("USER hello").starts_with("+OK"));
        let reply = c.cmd("PASS world");
        if reply.starts_with("+OK") {
            break;
        }
        // The old session's mailbox is dropped on the server's own time.
        assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
        assert!(started.elapsed() < common::DEADLINE);
        std::thread::sleep(std::time::Duration::from_millis(20));
        c = server.client();
    }
    assert_eq!(multi(&mut c, "UIDL"), "1 hello-1\r\n2 hello-2\r\n");
}

#[test]
fn hello_takes_its_users_from_the_config() {
    let config = r#"{"users": {"alice": "a-secret", "bob": "b-secret"}}"#;
    let server = serve(&example("hello_plugin"), Some(config));
    let reply = refused(&server, "hello", "world");
    assert!(reply.starts_with("-ERR [AUTH]"), "{reply}");
    for (user, pass) in [("alice", "a-secret"), ("bob", "b-secret")] {
        let mut c = server.client();
        c.login(user, pass);
        assert!(c.cmd("STAT").starts_with("+OK 3 "));
        assert!(c.cmd("QUIT").starts_with("+OK"));
    }
}

// --- sqlite ----------------------------------------------------------------------------

/// Maildir messages covering the size rules: CRLF, bare LF, a dot line, no final newline,
/// and one large enough to take many reads of the BLOB.
fn maildir_messages() -> Vec<(&'static str, Vec<u8>)> {
    let mut big = b"Subject: big\n\n".to_vec();
    for i in 0..20_000 {
        big.extend(format!("line {i} of a message read in chunks\n").as_bytes());
    }
    vec![
        ("1000.M1.host", b"Subject: crlf\r\n\r\nHello\r\n".to_vec()),
        (
            "1001.M2.host",
            b"Subject: lf\n\n.dot line\nbare lf\n".to_vec(),
        ),
        (
            "1002.M3.host",
            b"Subject: open\r\n\r\nno final newline".to_vec(),
        ),
        ("1003.M4.host", big),
    ]
}

fn load(db: &Path, user: &str, password: &str, sources: &[&Path]) {
    let output = common::process::output(
        Command::new("python3")
            .arg(repo().join("examples/sqlite/load.py"))
            .arg(db)
            .args([user, password])
            .args(sources),
    );
    assert!(
        output.status.success(),
        "load.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn sqlite_config(db: &Path) -> String {
    serde_json::json!({ "database": db }).to_string()
}

#[test]
fn sqlite_serves_a_loaded_maildir_and_deletes_for_good() {
    let dir = temp_dir("sqlite");
    let maildir = dir.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let messages = maildir_messages();
    for (name, text) in &messages {
        std::fs::write(maildir.join("new").join(name), text).unwrap();
    }
    let db = dir.join("mail.db");
    load(&db, "alice", "secret", &[&maildir]);
    load(&db, "alice", "secret", &[&maildir]); // a second load adds nothing
    load(&db, "bob", "hunter2", &[]);
    let config = sqlite_config(&db);

    let server = serve(&example("sqlite_plugin"), Some(&config));
    server.wait_for_log("2 users, 4 messages");
    let mut c = server.client();
    c.login("alice", "secret");

    // Sizes from the table are what the client receives; UIDLs are the id column.
    let list = multi(&mut c, "LIST");
    let uidl = multi(&mut c, "UIDL");
    assert_eq!(uidl, "1 1\r\n2 2\r\n3 3\r\n4 4\r\n");
    for (n, (_, text)) in messages.iter().enumerate() {
        let body = multi(&mut c, &format!("RETR {}", n + 1));
        let wire = unstuff(body.as_bytes());
        assert_eq!(wire, crlf_normalized(text), "message {}", n + 1);
        let listed = format!("{} {}\r\n", n + 1, wire.len());
        assert!(list.contains(&listed), "{listed:?} not in {list:?}");
    }
    assert_eq!(
        multi(&mut c, "TOP 2 0"),
        "Subject: lf\r\n\r\n",
        "TOP through retrieve"
    );

    // One session per maildrop; another user is not affected.
    let reply = refused(&server, "alice", "secret");
    assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
    let reply = refused(&server, "alice", "wrong");
    assert!(reply.starts_with("-ERR [AUTH]"), "{reply}");
    let mut bob = server.client();
    assert!(bob.login("bob", "hunter2").contains("0 messages"));
    assert!(bob.cmd("QUIT").starts_with("+OK"));

    // Delete the newest message and one in the middle; RSET and a dropped session delete
    // nothing, QUIT does.
    assert!(c.cmd("DELE 4").starts_with("+OK"));
    assert!(c.cmd("RSET").starts_with("+OK"));
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    assert!(c.cmd("DELE 4").starts_with("+OK"));
    assert_eq!(c.cmd("QUIT"), "+OK Logging out, 2 messages deleted.\r\n");
    drop(server);

    // Mail that arrives later gets a new id: AUTOINCREMENT never reuses 4.
    let later = dir.join("later.eml");
    std::fs::write(&later, b"Subject: later\n\nnew\n").unwrap();
    load(&db, "alice", "secret", &[&later]);

    let server = serve(&example("sqlite_plugin"), Some(&config));
    let mut c = server.client();
    assert!(c.login("alice", "secret").contains("3 messages"));
    assert_eq!(multi(&mut c, "UIDL"), "1 1\r\n2 3\r\n3 5\r\n");
    assert_eq!(
        unstuff(multi(&mut c, "RETR 2").as_bytes()),
        crlf_normalized(&messages[2].1)
    );
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    drop(c); // no QUIT: nothing is deleted
    drop(server);
    let server = serve(&example("sqlite_plugin"), Some(&config));
    let mut c = server.client();
    c.login("alice", "secret");
    assert_eq!(multi(&mut c, "UIDL"), "1 1\r\n2 3\r\n3 5\r\n");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sqlite_refuses_to_start_without_a_usable_database() {
    let dir = temp_dir("sqlite-errors");
    let plugin = example("sqlite_plugin");
    let start = |config: &str| {
        let plugin = plugin.to_str().unwrap();
        Server::start_fails(&["--plugin", plugin, "--plugin-config", config])
    };

    let missing = dir.join("missing.db");
    let log = start(&sqlite_config(&missing));
    assert!(
        log.contains(&format!("database {}: no such file", missing.display())),
        "{log}"
    );

    let empty = dir.join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let log = start(&sqlite_config(&empty));
    assert!(
        log.contains(&format!("database {}", empty.display()))
            && log.contains("does not have the sqlite-plugin schema"),
        "{log}"
    );

    let log = start(r#"{"path": "/tmp/x.db"}"#);
    assert!(log.contains("database"), "{log}");
}

// --- the template ----------------------------------------------------------------------

#[test]
fn new_plugin_sh_makes_a_crate_that_builds_and_serves() {
    let dir = temp_dir("template");
    let crate_dir = dir.join("my-first-plugin");
    let script = repo().join("examples/new-plugin.sh");
    let output = common::process::output(
        Command::new("bash")
            .arg(&script)
            .args(["my-first-plugin"])
            .arg(&crate_dir)
            .env("POP3_PLUGIN_API", repo().join("plugin-api")),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"crate-type = ["cdylib"]"#),
        "{manifest}"
    );
    assert!(manifest.contains(r#"panic = "unwind""#), "{manifest}");
    let api = repo().join("plugin-api").canonicalize().unwrap();
    assert!(
        manifest.contains(&format!(
            r#"pop3_plugin_api = {{ path = "{}" }}"#,
            api.display()
        )),
        "{manifest}"
    );

    // It refuses to overwrite, and names that are no crate names.
    for args in [
        vec!["my-first-plugin", crate_dir.to_str().unwrap()],
        vec!["9lives"],
    ] {
        let status = common::process::output(
            Command::new("bash")
                .arg(&script)
                .args(&args)
                .current_dir(&dir),
        )
        .status;
        assert!(!status.success(), "{args:?}");
    }

    // Outside the workspace: its own target dir beside the main one. The main lock pins the
    // same dependency versions as the workspace, so nothing new is resolved or fetched.
    std::fs::copy(repo().join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    let target = bin_dir().parent().unwrap().join("template-test");
    let manifest = crate_dir.join("Cargo.toml");
    let target_dir = ["--target-dir".as_ref(), target.as_os_str()];
    cargo_build(
        [
            ["--manifest-path".as_ref(), manifest.as_os_str()],
            target_dir,
        ]
        .concat(),
    );

    let profile = if release() { "release" } else { "debug" };
    let plugin = target.join(profile).join("libmy_first_plugin.so");
    let server = serve(&plugin, None);
    let mut c = server.client();
    c.login("demo", "demo");
    assert_eq!(multi(&mut c, "UIDL"), "1 welcome-1\r\n");
    let body = multi(&mut c, "RETR 1");
    assert_eq!(
        body,
        "Subject: Welcome\r\n\r\nThe first message of my-first-plugin.\r\n"
    );
    let listed = multi(&mut c, "LIST");
    assert_eq!(listed, format!("1 {}\r\n", body.len()));
    let reply = refused(&server, "demo", "demo");
    assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    let mut c = server.client();
    assert!(c.login("demo", "demo").contains("0 messages"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_examples_pass_pop3host_check() {
    assert_check_passes(
        &check(&example("hello_plugin"), "null", "hello", "world"),
        false,
    );
    let dir = temp_dir("check-sqlite");
    let maildir = dir.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for (name, bytes) in maildir_messages() {
        std::fs::write(maildir.join("cur").join(name), bytes).unwrap();
    }
    let db = dir.join("mail.db");
    load(&db, "sam", "pw", &[&maildir]);
    let sqlite = check(&example("sqlite_plugin"), &sqlite_config(&db), "sam", "pw");
    assert_check_passes(&sqlite, false);
}
