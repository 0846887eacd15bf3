//! The maildir plugin's `system` driver end to end: the real pop3host binary with
//! libmaildir.so, the passdb through real PAM (a service file the test writes into
//! /etc/pam.d, with Debian's pam_pwdfile reading a password file of the test's, so that no
//! system account's password is involved) and the userdb from the system's user database
//! (the `nobody` account, uid and gid 65534, which CI makes sure of). Right and wrong
//! passwords, unknown users, PAM's source unavailable, a PAM stack slower than the deadline,
//! the userdb's uid reaching the maildir, root (uid 0) never served, and an unknown user
//! (which pam_pwdfile answers at once) taking as long as a wrong password.

mod common;

use common::auth_cache::TIMING_SHA512;
use common::try_login;
use common::user_sources::{retr_and_quit, Site, AUTH_FAILED};
use common::Server;
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `password` in SHA512-CRYPT (from the maildir plugin's fixture passwd-file).
const HASH: &str = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";
const PASSWORD: &str = "password";
const PAM_PWDFILE: &str = "/lib/x86_64-linux-gnu/security/pam_pwdfile.so";

/// A PAM service file in /etc/pam.d with a name of its own; removed when dropped.
struct PamService {
    name: String,
}

impl PamService {
    /// A service whose `auth` lines are `auth`, and whose account check admits everyone.
    fn new(auth: &str) -> PamService {
        common::require_root("PAM reads its service files from /etc/pam.d only");
        assert!(
            std::path::Path::new(PAM_PWDFILE).exists(),
            "{PAM_PWDFILE} is missing: install libpam-pwdfile"
        );
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("pop3host-test-{}-{nanos}", std::process::id());
        let service = PamService { name };
        fs::write(
            service.path(),
            format!("{auth}\naccount required pam_permit.so\n"),
        )
        .unwrap();
        service
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/etc/pam.d").join(&self.name)
    }

    fn passdb(&self, timeout_seconds: u32) -> Value {
        json!({"driver": "system", "pam_service": self.name, "timeout_seconds": timeout_seconds})
    }
}

impl Drop for PamService {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.path());
    }
}

/// pam_pwdfile on the site's `pwdfile`, which holds `nobody`, `ghost` (who is no system
/// user) and `root`, all with [`PASSWORD`].
fn pwdfile_service(site: &Site) -> PamService {
    let pwdfile = site.path("pwdfile");
    fs::write(
        &pwdfile,
        format!("nobody:{HASH}\nghost:{HASH}\nroot:{HASH}\n"),
    )
    .unwrap();
    PamService::new(&format!(
        "auth required pam_pwdfile.so pwdfile={}",
        pwdfile.display()
    ))
}

fn start(site: &Site, passdb: Value) -> Server {
    let maildir = format!("{}/home/%u/Maildir", site.root.display());
    site.start_with(passdb, json!({"driver": "system"}), &maildir)
}

#[test]
fn pam_answers_and_the_system_users_uid() {
    let site = Site::new("system-answers");
    let service = pwdfile_service(&site);
    site.deliver("nobody", "Subject: hi\n\nhello nobody\n", 65534, 65534);
    let server = start(&site, service.passdb(5));

    let (mut c, reply) = try_login(&server, "nobody", PASSWORD);
    assert!(reply.starts_with("+OK"), "{reply}\n{}", server.log());
    assert!(retr_and_quit(&mut c, 1).ends_with(b"hello nobody\r\n"));
    // The system's uid and gid for nobody were used for the maildir.
    assert_eq!(site.lock_owner("nobody"), (65534, 65534));

    assert_eq!(try_login(&server, "nobody", "Password").1, AUTH_FAILED);
    assert_eq!(
        try_login(&server, "no-such-user-pop3host", PASSWORD).1,
        AUTH_FAILED
    );
    // PAM accepts ghost; the system does not know them.
    assert_eq!(try_login(&server, "ghost", PASSWORD).1, AUTH_FAILED);
    server.wait_for_log("user \"ghost\" is not in the system's user database");
    // PAM accepts root, whose uid 0 is never served.
    let (_c, reply) = try_login(&server, "root", PASSWORD);
    assert!(reply.starts_with("-ERR [SYS/PERM]"), "{reply}");
    server.wait_for_log("user \"root\" cannot be served: uid 0 is below first_valid_uid 500");
    assert!(!server.log().contains(PASSWORD), "{}", server.log());

    // The password file gone: PAM cannot check, which is an outage, not a wrong password.
    fs::remove_file(site.path("pwdfile")).unwrap();
    let (_c, reply) = try_login(&server, "nobody", PASSWORD);
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
}

#[test]
fn a_pam_stack_slower_than_the_deadline_is_a_temporary_failure() {
    let site = Site::new("system-slow");
    let pwdfile = site.path("pwdfile");
    fs::write(&pwdfile, format!("nobody:{HASH}\n")).unwrap();
    let service = PamService::new(&format!(
        "auth requisite pam_exec.so quiet /bin/sleep 4\nauth required pam_pwdfile.so pwdfile={}",
        pwdfile.display()
    ));
    let server = start(&site, service.passdb(1));
    let started = Instant::now();
    let (_c, reply) = try_login(&server, "nobody", PASSWORD);
    let took = started.elapsed();
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "answered after {took:?}"
    );
    server.wait_for_log(&format!("PAM service {} ran past 1s", service.name));
}

#[test]
fn an_unknown_user_takes_as_long_as_a_recent_wrong_password() {
    let site = Site::new("system-timing");
    let pwdfile = site.path("pwdfile");
    fs::write(&pwdfile, format!("nobody:{TIMING_SHA512}\n")).unwrap();
    // nodelay: no pam_fail_delay, which would make every refusal slow, known user or not.
    let service = PamService::new(&format!(
        "auth required pam_pwdfile.so nodelay pwdfile={}",
        pwdfile.display()
    ));
    let server = start(&site, service.passdb(20));
    let refused_after = |user: &str| {
        let started = Instant::now();
        let (_c, reply) = try_login(&server, user, "wrong");
        assert_eq!(reply, AUTH_FAILED, "{user}");
        started.elapsed()
    };
    for _ in 0..3 {
        let wrong = refused_after("nobody");
        let unknown = refused_after("no-such-user-pop3host");
        // pam_pwdfile answers an unknown user without hashing: only the rule holds it back.
        assert!(
            unknown.as_secs_f64() >= wrong.as_secs_f64() * 0.9,
            "an unknown user took {unknown:?}, a wrong password just before {wrong:?}"
        );
    }
    server.wait_for_log("unknown user \"no-such-user-pop3host\" (PAM)");
}

#[test]
fn init_refuses_a_pam_service_outside_pam_d() {
    let site = Site::new("system-init");
    let plugin = common::plugin("maildir");
    let config = json!({
        "passdb": {"driver": "system", "pam_service": "../shadow"},
        "userdb": {"driver": "system"},
        "maildir": "%h/Maildir",
    });
    let log = common::refused_start(&plugin, &config.to_string());
    assert!(log.contains("pam_service"), "{log}");
    drop(site);
}
