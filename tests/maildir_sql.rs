//! The maildir plugin's `sql` driver end to end: the real pop3host binary with libmaildir.so,
//! the passdb and the userdb as queries on a real PostgreSQL 15 (on loopback, as `nobody` when
//! root) and on a SQLite file made with Debian's `sqlite3`. For each: right and wrong
//! passwords, APOP, unknown users, a NULL password, a login that tries SQL injection, the userdb's
//! home, maildir, uid and gid reaching the session's files, the database down (`[SYS/TEMP]`,
//! and back), and a database slower than the deadline (a lock held by another session, and for
//! PostgreSQL a server whose processes are stopped), answered by the deadline; PostgreSQL
//! over TLS verified against a CA file; with SQLite, unknown users and wrong passwords
//! refused after the same time, from the first login after start on.

mod common;

use common::cluster::Postgres;
use common::process::{run, Guarded};
use common::user_sources::{retr_and_quit, Site, AUTH_FAILED};
use common::{try_apop, try_login, Server, DEADLINE};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `password` in SHA512-CRYPT (from the maildir plugin's fixture passwd-file).
const HASH: &str = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";

/// The users, in SQL both databases take: ann (home and ids, mail at ~/Maildir), bob (a NULL
/// password: cannot log in), cat (SHA512-CRYPT, a maildir of their own from the userdb).
fn users_table(site: &Site) -> String {
    format!(
        "CREATE TABLE users (name TEXT PRIMARY KEY, password TEXT, home TEXT, uid INTEGER,
                             gid INTEGER, maildir TEXT);
         INSERT INTO users VALUES
           ('ann', '{{PLAIN}}secret', '{ann}', 65534, 65534, NULL),
           ('bob', NULL, '{bob}', 65534, 65534, NULL),
           ('cat', '{{SHA512-CRYPT}}{HASH}', NULL, 65534, 65534, '{cat}');",
        ann = site.home("ann").display(),
        bob = site.home("bob").display(),
        cat = site.path("vmail/cat").display(),
    )
}

/// The passdb and userdb on the database at `url`; `param` is how its SQL names the login.
fn sources(url: &str, param: &str, timeout_seconds: u32) -> (Value, Value) {
    let passdb = json!({
        "driver": "sql", "url": url, "timeout_seconds": timeout_seconds,
        "password_query":
            format!("SELECT password, name AS \"user\" FROM users WHERE name = lower({param})"),
    });
    let userdb = json!({
        "driver": "sql", "url": url, "timeout_seconds": timeout_seconds,
        "user_query": format!("SELECT home, uid, gid, maildir FROM users WHERE name = {param}"),
    });
    (passdb, userdb)
}

/// Mail for ann (at ~/Maildir) and cat (at the userdb's maildir), owned by nobody.
fn deliver(site: &Site) {
    site.deliver("ann", "Subject: hi\n\nhello ann\n", 65534, 65534);
    let maildir = site.path("vmail/cat");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    fs::write(
        maildir.join("new/1700000002.M2P2.h"),
        "Subject: hi\n\nhello cat\n",
    )
    .unwrap();
    run(Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&maildir));
}

/// What every database must answer, the userdb's fields included.
fn answers(site: &Site, server: &Server) {
    // The login is lower-cased by the query; the row's `user` is the name the userdb gets.
    let (mut c, reply) = try_login(server, "ANN", "secret");
    assert!(reply.starts_with("+OK"), "{reply}\n{}", server.log());
    assert!(retr_and_quit(&mut c, 1).ends_with(b"hello ann\r\n"));
    // The userdb's home placed the maildir, and its uid and gid wrote the lock file.
    assert_eq!(site.lock_owner("ann"), (65534, 65534));

    let (mut c, reply) = try_login(server, "cat", "password");
    assert!(reply.starts_with("+OK"), "{reply}\n{}", server.log());
    assert!(retr_and_quit(&mut c, 1).ends_with(b"hello cat\r\n"));
    let lock = fs::metadata(site.path("vmail/cat/pop3host.lock")).unwrap();
    assert_eq!((lock.uid(), lock.gid()), (65534, 65534));

    for (user, pass) in [
        ("ann", "wrong"),
        ("ghost", "secret"),
        ("bob", "secret"),
        ("ann' OR '1'='1", "secret"),
        ("x' OR name = 'ann' --", "secret"),
    ] {
        assert_eq!(try_login(server, user, pass).1, AUTH_FAILED, "{user}");
    }
    // APOP for a {PLAIN} row, and not for a hashed one.
    let (mut c, reply) = try_apop(server, "ann", "secret");
    assert!(reply.starts_with("+OK"), "{reply}");
    assert!(c.cmd("QUIT").starts_with("+OK"));
    assert_eq!(try_apop(server, "cat", "password").1, AUTH_FAILED);
    assert!(!server.log().contains("secret"), "{}", server.log());
}

/// Logs in as ann and expects `[SYS/TEMP]` after `at_least`, well before the test's deadline.
fn temporary_within(server: &Server, at_least: Duration, at_most: Duration) {
    let started = Instant::now();
    let (_c, reply) = try_login(server, "ann", "secret");
    let took = started.elapsed();
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
    assert!(
        took >= at_least && took < at_most,
        "answered after {took:?}"
    );
}

/// Logs in as ann until it succeeds again (a pool reconnects after an outage).
fn logs_in_again(server: &Server) {
    let started = Instant::now();
    loop {
        let (_c, reply) = try_login(server, "ann", "secret");
        if reply.starts_with("+OK") {
            return;
        }
        assert!(started.elapsed() < DEADLINE, "{reply}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn postgres_site(name: &str, timeout_seconds: u32) -> (Site, Postgres, Server) {
    common::require_root("the userdb's uid is switched to");
    let site = Site::new(name);
    deliver(&site);
    let pg = Postgres::start();
    pg.sql(&users_table(&site));
    let (passdb, userdb) = sources(&pg.url(), "$1", timeout_seconds);
    let server = site.start(passdb, userdb);
    (site, pg, server)
}

#[test]
fn postgresql_answers_userdb_fields_and_an_outage() {
    let (site, pg, server) = postgres_site("sql-pg-answers", 1);
    answers(&site, &server);

    // Down: an outage, not a wrong password, answered by the deadline; then back.
    pg.stop();
    temporary_within(&server, Duration::ZERO, Duration::from_secs(4));
    // Logged with the database (the cause: refused, or no answer by the deadline).
    server.wait_for_log(&format!(
        "sql PostgreSQL pop3@127.0.0.1:{}/postgres: login \"ann\": ",
        pg.port
    ));
    pg.start_again();
    logs_in_again(&server);
}

#[test]
fn postgresql_slower_than_the_deadline() {
    let (_site, pg, server) = postgres_site("sql-pg-slow", 1);
    logs_in_again(&server);

    // Another session holds the table: the login answers at the deadline, and the server
    // cancels the waiting query itself (statement_timeout), freeing the connection.
    let mut holder = Guarded::spawn(
        Command::new(format!("{}/psql", common::cluster::PG_BIN))
            .args(["-X", "-q", "-d", &pg.url()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    use std::io::Write;
    let mut psql_input = holder.stdin.take().unwrap();
    writeln!(
        psql_input,
        "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE;"
    )
    .unwrap();
    let waiting = "SELECT count(*) FROM pg_locks WHERE relation = 'users'::regclass";
    wait_until(|| pg.sql(&format!("{waiting} AND granted")) == "1");
    temporary_within(&server, Duration::from_secs(1), Duration::from_secs(4));
    wait_until(|| pg.sql(&format!("{waiting} AND NOT granted")) == "0");
    drop(psql_input);
    drop(holder);
    logs_in_again(&server);

    // Every process of the server stopped: nothing answers, the login still does.
    let processes = pg.processes();
    let _resume = Resume(processes.clone());
    signal("STOP", &processes);
    temporary_within(&server, Duration::from_secs(1), Duration::from_secs(4));
    server.wait_for_log("no answer by the deadline");
    signal("CONT", &processes);
    logs_in_again(&server);
}

/// Sends `kill -<name>` to `pids`.
fn signal(name: &str, pids: &[u32]) {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    run(Command::new("kill").arg(format!("-{name}")).args(&pids));
}

/// Continues stopped processes, also when a test fails (the server cannot stop otherwise).
struct Resume(Vec<u32>);

impl Drop for Resume {
    fn drop(&mut self) {
        let pids: Vec<String> = self.0.iter().map(u32::to_string).collect();
        // Some may have exited since (a session the pool closed): no complaint.
        let _ = Command::new("kill")
            .arg("-CONT")
            .args(&pids)
            .stderr(Stdio::null())
            .status();
    }
}

/// Waits for `condition`, within the test deadline.
fn wait_until(mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < DEADLINE, "the condition never held");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn postgresql_init_refuses_bad_queries_naming_the_key() {
    let site = Site::new("sql-pg-init");
    let pg = Postgres::start();
    pg.sql(&users_table(&site));
    let plugin = common::plugin("maildir");
    let start = |passdb: Value| {
        let config = json!({"passdb": passdb, "passwd_file": site.path("users")});
        fs::write(site.path("users"), "ann::1:1::/home/ann\n").unwrap();
        common::refused_start(&plugin, &config.to_string())
    };
    let passdb = |query: &str| json!({"driver": "sql", "url": pg.url(), "password_query": query});
    let log = start(passdb("SELEC password FROM users WHERE name = $1"));
    assert!(
        log.contains("key \"passdb\": \"password_query\": db error") && log.contains("syntax"),
        "{log}"
    );
    let log = start(passdb(
        "SELECT password AS passwd FROM users WHERE name = $1",
    ));
    assert!(log.contains("a column \"passwd\""), "{log}");
    let log = start(passdb("SELECT password FROM users WHERE uid = $1"));
    assert!(log.contains("the login is text"), "{log}");
    let log = start(passdb("SELECT password FROM no_such_table WHERE name = $1"));
    assert!(log.contains("no_such_table"), "{log}");
    let closed = common::cluster::free_port();
    let log = start(json!({
        "driver": "sql", "url": format!("postgresql://pop3@127.0.0.1:{closed}/postgres"),
        "password_query": "SELECT password FROM users WHERE name = $1"
    }));
    assert!(log.contains("the database is unreachable"), "{log}");
}

#[test]
fn postgresql_over_tls_verified_against_the_ca_file() {
    common::require_root("the userdb's uid is switched to");
    let (ca, cert, key) = common::cluster::server_certificate();
    let (other_ca, _, _) = common::cluster::server_certificate();
    let site = Site::new("sql-pg-tls");
    deliver(&site);
    let pg = Postgres::start_with_tls(&cert, &key);
    pg.sql(&users_table(&site));
    fs::write(site.path("ca.pem"), ca).unwrap();
    fs::write(site.path("other-ca.pem"), other_ca).unwrap();
    let verify_full = |ca_file: &str| {
        let (mut passdb, mut userdb) = sources(&pg.url(), "$1", 5);
        for source in [&mut passdb, &mut userdb] {
            source["tls"] = json!("verify-full");
            source["ca_file"] = json!(site.path(ca_file));
        }
        (passdb, userdb)
    };

    let (passdb, userdb) = verify_full("ca.pem");
    let server = site.start(passdb, userdb);
    let (mut c, reply) = try_login(&server, "ann", "secret");
    assert!(reply.starts_with("+OK"), "{reply}\n{}", server.log());
    assert!(c.cmd("QUIT").starts_with("+OK"));
    // The driver's connections (psql's own aside) are all encrypted.
    assert_ne!(pg.client_connections(true), "0");
    assert_eq!(pg.client_connections(false), "0");
    drop(server);

    // A certificate of another CA stops the server at startup, naming the keys to check.
    let (passdb, userdb) = verify_full("other-ca.pem");
    let plugin = common::plugin("maildir");
    let config = json!({"passdb": passdb, "userdb": userdb, "maildir": "~/Maildir"});
    let log = common::refused_start(&plugin, &config.to_string());
    assert!(
        log.contains("certificate") && log.contains("keys \"url\" and \"tls\""),
        "{log}"
    );
}

/// The SQLite database of `site`, made with the `sqlite3` program.
fn sqlite_database(site: &Site) -> std::path::PathBuf {
    let path = site.path("users.db");
    run(Command::new("sqlite3").arg(&path).arg(users_table(site)));
    path
}

fn sqlite_site(name: &str) -> (Site, std::path::PathBuf, Server) {
    common::require_root("the userdb's uid is switched to");
    let site = Site::new(name);
    deliver(&site);
    let path = sqlite_database(&site);
    let (passdb, userdb) = sources(&format!("sqlite://{}", path.display()), "?1", 1);
    let server = site.start(passdb, userdb);
    (site, path, server)
}

#[test]
fn sqlite_answers_userdb_fields_and_a_missing_file() {
    let (site, path, server) = sqlite_site("sql-sqlite-answers");
    answers(&site, &server);

    // The file gone (as during a botched replacement): an outage, not a wrong password.
    let away = site.path("users.db.away");
    fs::rename(&path, &away).unwrap();
    temporary_within(&server, Duration::ZERO, Duration::from_secs(1));
    server.wait_for_log("unable to open database file");
    fs::rename(&away, &path).unwrap();
    logs_in_again(&server);
}

#[test]
fn sqlite_locked_past_the_deadline() {
    let (_site, path, server) = sqlite_site("sql-sqlite-slow");
    logs_in_again(&server);
    // The holder waits for a lock the probes below may hold for a moment, rather than fail.
    let mut holder = Guarded::spawn(
        Command::new("sqlite3")
            .args(["-cmd", ".timeout 10000"])
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    use std::io::Write;
    let mut input = holder.stdin.take().unwrap();
    writeln!(input, "BEGIN EXCLUSIVE;").unwrap();
    // Held once another reader is refused at once.
    wait_until(|| {
        let mut probe = Command::new("sqlite3");
        probe
            .args(["-cmd", ".timeout 0"])
            .arg(&path)
            .arg("SELECT count(*) FROM users");
        !common::process::output(&mut probe).status.success()
    });
    // SQLite's busy timeout counts whole milliseconds.
    temporary_within(&server, Duration::from_millis(990), Duration::from_secs(4));
    server.wait_for_log("database is locked");
    drop(input);
    drop(holder);
    logs_in_again(&server);
}

#[test]
fn sqlite_unknown_users_and_wrong_passwords_are_refused_after_the_same_time() {
    let (_site, _path, server) = sqlite_site("sql-sqlite-pace");
    let refused_after = |user: &str| {
        let started = Instant::now();
        let (_c, reply) = try_login(&server, user, "wrong");
        assert_eq!(reply, AUTH_FAILED, "{user}");
        started.elapsed()
    };
    // Right after start nothing is remembered: an unknown user is not answered sooner than
    // a wrong password that pays for cat's SHA512-CRYPT hash.
    let unknown = refused_after("ghost");
    let wrong = refused_after("cat");
    assert!(
        unknown.as_secs_f64() >= wrong.as_secs_f64() * 0.8,
        "first an unknown user after {unknown:?}, then a wrong password after {wrong:?}"
    );
    let median = |user: &str| {
        let mut times: Vec<Duration> = (0..15).map(|_| refused_after(user)).collect();
        times.sort();
        times[times.len() / 2].as_secs_f64()
    };
    let (wrong, unknown) = (median("cat"), median("ghost"));
    assert!(
        (0.85..1.18).contains(&(unknown / wrong)),
        "median refusal: unknown user {unknown:.4}s, wrong password {wrong:.4}s"
    );
    // APOP checks no hash (cat's is SHA512-CRYPT): its refusals wait by the same rule.
    for user in ["cat", "ghost"] {
        let started = Instant::now();
        assert_eq!(try_apop(&server, user, "password").1, AUTH_FAILED, "{user}");
        let took = started.elapsed().as_secs_f64();
        assert!(took >= wrong * 0.85, "APOP for {user}: {took:.4}s");
    }
}
