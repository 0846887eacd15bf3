//! The postgres plugin against a real PostgreSQL on loopback (see `common::cluster`):
//! login, listing, RETR of a multi-megabyte body byte for byte, UPDATE in one transaction
//! (and its rollback), the maildrop lock and LOGIN-DELAY across two pop3host instances, the
//! lock of a killed instance expiring with its lease, the per-user EXPIRE and LOGIN-DELAY in
//! CAPA, TLS to the database, the authentication cache (an updated row's old password refused at
//! once), and the startup errors.

mod common;

use common::auth_cache::{login_is, remembered_after_the_first_login, NEW_SHA512, SLOW_SHA512};
use common::cluster::{pop3host_pg, postgres_plugin, Postgres};
use common::{crlf_normalized, unstuff, Server};
use std::process::Command;
use std::time::{Duration, Instant};

fn server(pg: &Postgres, extra: &str) -> Server {
    let plugin = postgres_plugin();
    let config = pg.plugin_config(extra);
    Server::start(&[
        "--plugin",
        plugin.to_str().unwrap(),
        "--plugin-config",
        &config,
    ])
}

/// A message of about `size` octets with bare LF line endings, a leading-dot line and
/// no final newline, so that the stored size and the POP3 size differ.
fn message(size: usize, seed: u8) -> Vec<u8> {
    let mut message = format!("Subject: test {seed}\n\n.leading dot\n").into_bytes();
    let mut i = 0usize;
    while message.len() < size {
        message.extend(format!("line {i} {}\n", "x".repeat(i % 97)).bytes());
        i += 1;
    }
    message.extend(b"no final newline");
    message
}

fn count(pg: &Postgres, user: &str) -> String {
    pg.sql(&format!(
        "SELECT count(*) FROM messages WHERE user_name = '{user}'"
    ))
}

#[test]
fn login_list_and_retr_of_a_large_body_byte_for_byte() {
    let pg = Postgres::start();
    let server = server(&pg, "");
    pg.add_user("alice", "{PLAIN}secret");
    let messages = [
        message(300, 1),
        message(5 * 1024 * 1024, 2),
        message(70_000, 3),
    ];
    for m in &messages {
        assert_eq!(pg.deliver("ALICE", m), 0);
    }
    assert_eq!(pg.deliver("nobody-here", b"x\n"), 67, "EX_NOUSER");

    let mut client = server.client();
    client.login("Alice", "secret");
    let expected: Vec<Vec<u8>> = messages.iter().map(|m| crlf_normalized(m)).collect();
    let total: usize = expected.iter().map(Vec::len).sum();
    assert_eq!(client.cmd("STAT"), format!("+OK 3 {total}\r\n"));
    assert!(client.cmd("LIST").starts_with("+OK"));
    let listing = String::from_utf8(client.body()).unwrap();
    for (i, e) in expected.iter().enumerate() {
        assert!(
            listing.contains(&format!("{} {}\r\n", i + 1, e.len())),
            "{listing}"
        );
    }
    for (i, e) in expected.iter().enumerate() {
        assert!(client.cmd(&format!("RETR {}", i + 1)).starts_with("+OK"));
        assert!(unstuff(&client.body()) == *e, "message {} differs", i + 1);
    }
    assert!(client.cmd("QUIT").starts_with("+OK"));
    assert!(
        server
            .log()
            .contains("postgres: alice logged in from 127.0.0.1"),
        "the canonical user is logged"
    );
}

#[test]
fn quit_deletes_the_marked_messages_and_a_failed_update_deletes_none() {
    let pg = Postgres::start();
    let server = server(&pg, "");
    pg.add_user("bob", "{PLAIN}pw");
    for seed in 0..4 {
        assert_eq!(pg.deliver("bob", &message(100, seed)), 0);
    }
    let mut client = server.client();
    client.login("bob", "pw");
    assert!(client.cmd("DELE 1").starts_with("+OK"));
    assert!(client.cmd("DELE 3").starts_with("+OK"));
    assert_eq!(count(&pg, "bob"), "4", "nothing deleted before QUIT");
    assert!(client.cmd("QUIT").starts_with("+OK"));
    assert_eq!(count(&pg, "bob"), "2");

    // A trigger refuses deleting the newest message: the whole UPDATE rolls back.
    pg.sql(
        "CREATE FUNCTION refuse_newest() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN
           IF OLD.id = (SELECT max(id) FROM messages) THEN RAISE EXCEPTION 'refused'; END IF;
           RETURN OLD;
         END$$;
         CREATE TRIGGER refuse_newest BEFORE DELETE ON messages
           FOR EACH ROW EXECUTE FUNCTION refuse_newest();",
    );
    let mut client = server.client();
    client.login("bob", "pw");
    assert!(client.cmd("DELE 1").starts_with("+OK"));
    assert!(client.cmd("DELE 2").starts_with("+OK"));
    let reply = client.cmd("QUIT");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
    assert_eq!(count(&pg, "bob"), "2", "nothing deleted");
}

#[test]
fn with_the_auth_cache_an_updated_password_is_refused_at_once() {
    let pg = Postgres::start();
    let server = server(&pg, r#", "auth_cache": {"size": 100, "ttl_seconds": 600}"#);
    server.wait_for_log("postgres: auth cache of 100 entries for 600s");
    pg.add_user("erin", &format!("{{SHA512-CRYPT}}{SLOW_SHA512}"));
    remembered_after_the_first_login(&server, "erin", "password");
    login_is(&server, "erin", "wrong", "-ERR [AUTH]");

    pg.sql(&format!(
        "UPDATE users SET password = '{{SHA512-CRYPT}}{NEW_SHA512}' WHERE name = 'erin'"
    ));
    login_is(&server, "erin", "password", "-ERR [AUTH]");
    login_is(&server, "erin", "newpass", "+OK");
    login_is(&server, "erin", "newpass", "+OK");
    login_is(&server, "erin", "wrong", "-ERR [AUTH]");
    login_is(&server, "erin", "password", "-ERR [AUTH]");
    login_is(&server, "nobody-here", "password", "-ERR [AUTH]");
}

#[test]
fn the_maildrop_lock_and_login_delay_hold_across_instances() {
    let pg = Postgres::start();
    let first = server(&pg, "");
    let second = server(&pg, "");
    pg.add_user("carol", "{PLAIN}pw");
    pg.add_user("dave", "{PLAIN}pw");
    pg.sql("UPDATE users SET login_delay = 3600 WHERE name = 'dave'");

    let mut holder = first.client();
    holder.login("carol", "pw");
    let mut other = second.client();
    other.line();
    other.cmd("USER carol");
    let reply = other.cmd("PASS pw");
    assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
    assert!(holder.cmd("QUIT").starts_with("+OK"));
    let mut again = second.client();
    again.login("carol", "pw");
    assert!(again.cmd("QUIT").starts_with("+OK"));

    let mut client = first.client();
    client.login("dave", "pw");
    assert!(client.cmd("QUIT").starts_with("+OK"));
    let mut client = second.client();
    client.line();
    client.cmd("USER dave");
    let reply = client.cmd("PASS pw");
    assert!(reply.starts_with("-ERR [LOGIN-DELAY]"), "{reply}");
}

#[test]
fn the_lock_of_a_killed_instance_expires_with_its_lease() {
    let pg = Postgres::start();
    let mut first = server(&pg, "");
    let second = server(&pg, "");
    pg.add_user("erin", "{PLAIN}pw");
    assert_eq!(pg.deliver("erin", b"Subject: keep\n\nbody\n"), 0);
    let mut client = first.client();
    client.login("erin", "pw");
    assert!(client.cmd("DELE 1").starts_with("+OK"));
    first.kill();
    let killed = Instant::now();
    // The lease is 3 s (plugin_config): within it the maildrop stays locked, after it the
    // login succeeds through the other instance.
    let relogin = loop {
        let mut client = second.client();
        client.line();
        client.cmd("USER erin");
        let reply = client.cmd("PASS pw");
        if reply.starts_with("+OK") {
            break client;
        }
        assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "still locked after 10 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut relogin = relogin;
    assert!(
        killed.elapsed() < Duration::from_secs(7),
        "took {:?}",
        killed.elapsed()
    );
    assert_eq!(
        relogin.cmd("STAT"),
        "+OK 1 23\r\n",
        "nothing the killed session marked was deleted"
    );
    assert!(relogin.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn startup_errors_name_the_problem() {
    let plugin = postgres_plugin();
    let start = |config: String| {
        Server::start_fails(&[
            "--plugin",
            plugin.to_str().unwrap(),
            "--plugin-config",
            &config,
        ])
    };
    let closed = common::cluster::free_port();
    let log = start(format!(
        r#"{{"url": "postgresql://pop3@127.0.0.1:{closed}/postgres", "connect_timeout_seconds": 1}}"#
    ));
    assert!(log.contains("the database is unreachable"), "{log}");

    let pg = Postgres::start();
    let log = start(format!(r#"{{"url": "{}"}}"#, pg.url()));
    assert!(log.contains("has no pop3host schema"), "{log}");
    drop(server(&pg, "")); // applies the schema
    pg.sql("UPDATE schema_version SET version = 99");
    let log = start(format!(r#"{{"url": "{}"}}"#, pg.url()));
    assert!(
        log.contains("schema is version 99, this plugin needs version 1"),
        "{log}"
    );
    let log = start(r#"{"url": "x", "pool_size": 0}"#.to_string());
    assert!(log.contains("\"pool_size\""), "{log}");

    // TLS required from a server that does not offer it: no fallback to plain text.
    let log = start(format!(
        r#"{{"url": "{}", "tls": "require", "connect_timeout_seconds": 1}}"#,
        pg.url()
    ));
    assert!(
        log.contains("server does not support TLS") && log.contains("\"tls\""),
        "{log}"
    );
    let log = start(format!(
        r#"{{"url": "{}", "tls": "require", "ca_file": "/ca.pem"}}"#,
        pg.url()
    ));
    assert!(log.contains("\"ca_file\": only used with"), "{log}");
    // The URL asks for TLS that "tls" (default "disable") would silently leave out.
    let log = start(r#"{"url": "postgresql://pop3@127.0.0.1/mail?sslmode=require"}"#.to_string());
    assert!(
        log.contains("\"url\" says sslmode=require but \"tls\" is \"disable\""),
        "{log}"
    );
}

#[test]
fn an_empty_password_never_logs_in() {
    let pg = Postgres::start();
    let server = server(&pg, "");
    // `{PLAIN}` with nothing after it, and the SHA-1 of the empty password.
    pg.add_user("empty", "{PLAIN}");
    pg.add_user("hashed", "{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    pg.add_user("carol", "{PLAIN}pw");
    assert!(common::try_login(&server, "carol", "pw")
        .1
        .starts_with("+OK"));
    // AUTH PLAIN "\0empty\0" and "\0hashed\0".
    for encoded in ["AGVtcHR5AA==", "AGhhc2hlZAA="] {
        let mut c = server.client();
        assert!(c.line().starts_with("+OK"));
        assert_eq!(
            c.cmd(&format!("AUTH PLAIN {encoded}")),
            "-ERR [AUTH] Authentication failed.\r\n",
            "{encoded}"
        );
    }
}

#[test]
fn tls_to_the_database_encrypted_and_verified() {
    let (ca, cert, key) = common::cluster::server_certificate();
    let (other_ca, _, _) = common::cluster::server_certificate();
    let pg = Postgres::start_with_tls(&cert, &key);
    let dir = common::TempDir::new("pg-ca");
    let (ca_file, other_ca_file) = (dir.join("ca.pem"), dir.join("other-ca.pem"));
    std::fs::write(&ca_file, ca).unwrap();
    std::fs::write(&other_ca_file, other_ca).unwrap();
    let verify_full = |ca_file: &std::path::Path| {
        format!(
            r#", "tls": "verify-full", "ca_file": "{}", "connect_timeout_seconds": 1"#,
            ca_file.display()
        )
    };

    let require = server(&pg, r#", "tls": "require""#);
    pg.add_user("lena", "{PLAIN}pw");
    let ca_option = ca_file.to_str().unwrap();
    let tls_options = ["--tls", "verify-full", "--ca-file", ca_option];
    assert_eq!(
        pg.deliver_with(&tls_options, "lena", b"Subject: s\n\nsecret\n"),
        0
    );
    let mut client = require.client();
    client.login("lena", "pw");
    assert_eq!(client.cmd("STAT"), "+OK 1 22\r\n");
    assert!(client.cmd("QUIT").starts_with("+OK"));
    // Every connection of the plugin (psql's own aside) is encrypted.
    assert_ne!(pg.client_connections(true), "0");
    assert_eq!(pg.client_connections(false), "0");
    drop(require);

    let verified = server(&pg, &verify_full(&ca_file));
    let mut client = verified.client();
    client.login("lena", "pw");
    assert_eq!(client.cmd("STAT"), "+OK 1 22\r\n");
    assert!(client.cmd("QUIT").starts_with("+OK"));

    let plugin = postgres_plugin();
    let config = pg.plugin_config(&verify_full(&other_ca_file));
    let log = common::refused_start(&plugin, &config);
    assert!(log.contains("certificate"), "{log}");
    let other_ca_option = other_ca_file.to_str().unwrap();
    let options = ["--tls", "verify-full", "--ca-file", other_ca_option];
    assert_eq!(pg.deliver_with(&options, "lena", b"x\n"), 75, "EX_TEMPFAIL");
}

#[test]
fn import_maildir_keeps_names_as_uidls_and_runs_twice_without_duplicates() {
    let pg = Postgres::start();
    let server = server(&pg, "");
    pg.add_user("frank", "{PLAIN}pw");
    let dir = common::TempDir::new("import-maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("cur/1000.a.host:2,S"), b"Subject: a\n\nA\n").unwrap();
    std::fs::write(dir.join("new/1001.b.host"), b"Subject: b\r\n\r\nB").unwrap();
    for _ in 0..2 {
        common::process::run(
            Command::new(pop3host_pg())
                .args(["--url", &pg.url(), "import-maildir", "frank"])
                .arg(&dir),
        );
    }
    let mut client = server.client();
    client.login("frank", "pw");
    assert!(client.cmd("UIDL").starts_with("+OK"));
    assert_eq!(client.body(), b"1 1000.a.host\r\n2 1001.b.host\r\n");
    assert_eq!(client.cmd("STAT"), "+OK 2 34\r\n");
}

#[test]
fn pop3host_check_passes_on_the_postgres_plugin() {
    let pg = Postgres::start();
    drop(server(&pg, "")); // applies the schema
    pg.add_user("gina", "{PLAIN}pw");
    for seed in 0..3 {
        assert_eq!(pg.deliver("gina", &message(2000, seed)), 0);
    }
    let output = common::check(&postgres_plugin(), &pg.plugin_config(""), "gina", "pw");
    common::assert_check_passes(&output, false);
}

#[test]
fn a_session_whose_lease_was_taken_over_deletes_nothing() {
    let pg = Postgres::start();
    let server = server(&pg, "");
    pg.add_user("hal", "{PLAIN}pw");
    assert_eq!(pg.deliver("hal", b"Subject: x\n\nx\n"), 0);
    let mut client = server.client();
    client.login("hal", "pw");
    assert!(client.cmd("DELE 1").starts_with("+OK"));
    // As if this instance had been cut off past its lease and another had taken the maildrop.
    pg.sql("UPDATE maildrop_locks SET instance = 'another', session = 1 WHERE user_name = 'hal'");
    let reply = client.cmd("QUIT");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
    assert_eq!(count(&pg, "hal"), "1");
    assert!(server.log().contains("lost its maildrop lock"));
}

/// RFC 2449: EXPIRE (and LOGIN-DELAY) are the user's own after login, from the user's row;
/// before login, when users differ, CAPA names neither.
#[test]
fn capa_announces_the_users_own_expire_and_login_delay_after_login() {
    let pg = Postgres::start();
    let server = server(&pg, "");
    for user in ["ivy", "jack", "kim"] {
        pg.add_user(user, "{PLAIN}pw");
    }
    pg.sql("UPDATE users SET expire_days = 30, login_delay = 60 WHERE name = 'ivy'");
    pg.sql("UPDATE users SET expire_days = -1 WHERE name = 'jack'");
    let capa = |client: &mut common::Client| {
        assert!(client.cmd("CAPA").starts_with("+OK"));
        String::from_utf8(client.body()).unwrap()
    };

    let mut client = server.client();
    client.line();
    let before = capa(&mut client);
    assert!(
        before.contains("\r\nUSER\r\n")
            && !before.contains("EXPIRE")
            && !before.contains("LOGIN-DELAY"),
        "{before}"
    );
    client.cmd("USER Ivy");
    assert!(client.cmd("PASS pw").starts_with("+OK"));
    let after = capa(&mut client);
    assert!(
        after.contains("\r\nLOGIN-DELAY 60\r\nEXPIRE 30\r\n") && !after.contains("\r\nUSER\r\n"),
        "{after}"
    );

    let mut client = server.client();
    client.login("jack", "pw");
    let after = capa(&mut client);
    assert!(after.contains("\r\nEXPIRE NEVER\r\n"), "{after}");
    assert!(!after.contains("LOGIN-DELAY"), "{after}");

    let mut client = server.client();
    client.login("kim", "pw");
    let after = capa(&mut client);
    assert!(
        !after.contains("EXPIRE") && !after.contains("LOGIN-DELAY"),
        "not set for kim: {after}"
    );
}
