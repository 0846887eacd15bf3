//! The maildir plugin's `checkpassword` passdb end to end: the real pop3host binary with
//! libmaildir.so, a checkpassword program the test writes (a bash script reading
//! `user\0password\0timestamp\0` from descriptor 3), and a passwd-file userdb with homes and
//! uids. Right and wrong passwords, unknown users, exit 111, a missing program, a program
//! that hangs (killed at the deadline, with its children), the bound on concurrent runs, the
//! userdb's home and uid reaching the maildir, and the authentication cache (a success
//! remembered, a refusal never).

mod common;

use common::auth_cache::login_is;
use common::user_sources::{passwd_file_userdb, retr_and_quit, userdb_line, Site, AUTH_FAILED};
use common::{try_login, Server, DEADLINE};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The program: `secret` is every user's password but `nobody`'s; `temp` fails for a while
/// (exit 111); `slow` hangs in a child; `gate0`..`gate3` count the runs going on at once and waits for
/// the test to open the gate. The environment it got is kept in `env.<user>`.
const PROGRAM: &str = r#"#!/bin/bash
dir=$(dirname "$0")
IFS= read -r -d '' user <&3
IFS= read -r -d '' pass <&3
IFS= read -r -d '' stamp <&3
[[ $stamp =~ ^[0-9]+$ ]] || exit 2
env > "$dir/env.$user"
case "$user" in
  temp) exit 111 ;;
  slow) sleep 600 & echo $! > "$dir/slow.pid"; wait; exit 0 ;;
  gate*)
    touch "$dir/running.$$"
    ls "$dir"/running.* | wc -l >> "$dir/at-once"
    for _ in $(seq 1 400); do [ -e "$dir/open" ] && break; sleep 0.05; done
    rm "$dir/running.$$" ;;
esac
[ "$user" != nobody ] && [ "$pass" = secret ] && exec "$@"
exit 1
"#;

/// Writes the program into `site` and returns the passdb config for it.
fn checkpassword(site: &Site, extra: Value) -> Value {
    let program = site.path("checkpassword");
    fs::write(&program, PROGRAM).unwrap();
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let mut passdb = json!({"driver": "checkpassword", "program": program});
    passdb
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    passdb
}

/// The userdb: every user the tests log in as, with uid and gid 65534.
fn userdb(site: &Site) -> Value {
    let users = [
        "ann", "nobody", "temp", "slow", "gate0", "gate1", "gate2", "gate3",
    ];
    let lines: String = users
        .iter()
        .map(|user| userdb_line(site, user, 65534, 65534))
        .collect();
    passwd_file_userdb(&site.path("users"), &lines)
}

#[test]
fn right_wrong_unknown_and_temporary_answers() {
    common::require_root("the userdb's uid is switched to");
    let site = Site::new("checkpassword-answers");
    site.deliver("ann", "Subject: hi\n\nhello ann\n", 65534, 65534);
    let server = site.start(checkpassword(&site, json!({})), userdb(&site));

    let (mut c, reply) = try_login(&server, "ann", "secret");
    assert!(reply.starts_with("+OK"), "{reply}");
    assert!(retr_and_quit(&mut c, 1).ends_with(b"hello ann\r\n"));
    // The userdb's home placed the maildir, and its uid and gid were used.
    assert_eq!(site.lock_owner("ann"), (65534, 65534));

    assert_eq!(try_login(&server, "ann", "wrong").1, AUTH_FAILED);
    assert_eq!(try_login(&server, "nobody", "secret").1, AUTH_FAILED);
    // The program accepts anyone with the password; the userdb does not know ghost.
    assert_eq!(try_login(&server, "ghost", "secret").1, AUTH_FAILED);
    let (_c, reply) = try_login(&server, "temp", "secret");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
    server.wait_for_log("reports a temporary failure (exit 111)");

    // The program got what Dovecot gives it, and pop3host logged no password.
    let env = fs::read_to_string(site.path("env.ann")).unwrap();
    for var in [
        "SERVICE=pop3",
        "TCPREMOTEIP=127.0.0.1",
        "TCPLOCALIP=127.0.0.1",
    ] {
        assert!(env.lines().any(|line| line == var), "{var} in\n{env}");
    }
    assert!(!server.log().contains("secret"), "{}", server.log());

    // A program that is gone is an outage, not a wrong password.
    fs::remove_file(site.path("checkpassword")).unwrap();
    let (_c, reply) = try_login(&server, "ann", "secret");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
}

#[test]
fn with_the_auth_cache_a_success_skips_the_program_and_a_refusal_never_does() {
    let site = Site::new("checkpassword-cache");
    let server = site.start_config(json!({
        "passdb": checkpassword(&site, json!({})),
        "userdb": userdb(&site),
        "maildir": "~/Maildir",
        "auth_cache": {"size": 10, "ttl_seconds": 600},
    }));
    // The program writes env.<user> at each run.
    let ran = site.path("env.ann");
    let ran_once = || {
        let ran_now = ran.exists();
        let _ = fs::remove_file(&ran);
        ran_now
    };
    login_is(&server, "ann", "secret", "+OK");
    assert!(ran_once(), "the first login asks the program");
    login_is(&server, "ann", "secret", "+OK");
    assert!(!ran_once(), "a remembered login does not");
    for _ in 0..2 {
        assert_eq!(try_login(&server, "ann", "wrong").1, AUTH_FAILED);
        assert!(ran_once(), "each wrong password asks the program");
    }
    login_is(&server, "ann", "secret", "+OK");
    assert!(!ran_once(), "still remembered");
}

#[test]
fn a_hanging_program_is_killed_with_its_children_at_the_deadline() {
    let site = Site::new("checkpassword-slow");
    let server = site.start(
        checkpassword(&site, json!({"timeout_seconds": 1})),
        userdb(&site),
    );
    let started = Instant::now();
    let (_c, reply) = try_login(&server, "slow", "secret");
    let took = started.elapsed();
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "answered after {took:?}"
    );
    server.wait_for_log("ran past 1s and was killed");
    // The script's child died with it (a zombie waiting for init counts as dead).
    let pid = fs::read_to_string(site.path("slow.pid")).unwrap();
    wait_dead(pid.trim());
    // The run's place is free again.
    let (_c, reply) = try_login(&server, "ann", "secret");
    assert!(reply.starts_with("+OK"), "{reply}");
}

/// Waits until process `pid` is gone or a zombie.
fn wait_dead(pid: &str) {
    let started = Instant::now();
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next();
        if matches!(state, None | Some("Z")) {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "process {pid} lives on: {stat}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn at_most_max_running_programs_run_at_once() {
    let site = Site::new("checkpassword-bound");
    let server = site.start(
        checkpassword(&site, json!({"max_running": 2, "timeout_seconds": 15})),
        userdb(&site),
    );
    let logins: Vec<_> = (0..4)
        .map(|n| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let mut c = common::Client::connect(addr);
                assert!(c.line().starts_with("+OK"));
                assert!(c.cmd(&format!("USER gate{n}")).starts_with("+OK"));
                c.cmd("PASS secret")
            })
        })
        .collect();
    // Two run; the other two wait for a place.
    server.wait_for_log_count("all 2 checkpassword runs busy", 2);
    let started = Instant::now();
    while running(&site.root) < 2 {
        assert!(started.elapsed() < DEADLINE, "the first two never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(running(&site.root), 2);
    fs::write(site.path("open"), "").unwrap();
    for login in logins {
        let reply = login.join().unwrap();
        assert!(reply.starts_with("+OK"), "{reply}");
    }
    let at_once = fs::read_to_string(site.path("at-once")).unwrap();
    let counts: Vec<u32> = at_once.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(counts.len(), 4, "{at_once}");
    assert!(counts.iter().all(|&n| n <= 2), "{at_once}");
}

/// How many `gate*` runs are going on.
fn running(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("running.")
        })
        .count()
}

#[test]
fn init_refuses_a_program_that_is_missing_or_not_executable() {
    let site = Site::new("checkpassword-init");
    let plugin = common::plugin("maildir");
    let try_start = |program: &Path| {
        let config = json!({
            "passdb": {"driver": "checkpassword", "program": program},
            "passwd_file": site.path("users"),
            "maildir": "~/Maildir",
        });
        fs::write(site.path("users"), "ann::1:1::/home/ann\n").unwrap();
        Server::try_start(&[
            "--plugin",
            plugin.to_str().unwrap(),
            "--plugin-config",
            &config.to_string(),
        ])
        .err()
        .expect("pop3host refuses to start")
    };
    let missing = site.path("missing");
    let log = try_start(&missing);
    assert!(log.contains(&missing.display().to_string()), "{log}");
    fs::write(site.path("plain"), "#!/bin/sh\n").unwrap();
    let log = try_start(&site.path("plain"));
    assert!(log.contains("not an executable file"), "{log}");
}
