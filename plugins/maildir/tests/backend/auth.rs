//! Logging in: every scheme, unknown users, APOP, init errors, reloading the passwd-file.

use crate::common::{conn, login, Site};
use maildir::MaildirBackend;
use pop3_plugin_api::{apop_digest, Backend, Mailbox, ResponseCode};
use serde_json::json;
use std::fs;

const SCHEME_USERS: &[&str] = &[
    "plain",
    "cleartext",
    "md5",
    "sha256",
    "sha512",
    "crypt",
    "bare",
    "blf",
    "argon2i",
    "argon2id",
    "ssha",
    "ssha256",
    "ssha512",
    "ann@example.org",
];

#[test]
fn every_scheme_accepts_the_password_and_only_it() {
    let site = Site::new();
    let backend = site.backend();
    for user in SCHEME_USERS {
        login(&backend, user).unwrap_or_else(|e| panic!("{user}: {e}"));
        let err = backend.authenticate(user, "passwort", &conn()).unwrap_err();
        assert_eq!(err.code, ResponseCode::AUTH, "{user}");
    }
}

#[test]
fn unknown_locked_and_unsafe_users_are_refused_alike() {
    let site = Site::new();
    let backend = site.backend();
    for user in ["nobody", "locked", "../plain", "plain/..", "a/b", "", "."] {
        let err = backend
            .authenticate(user, "Sekr1t-Value", &conn())
            .unwrap_err();
        assert_eq!(err.code, ResponseCode::AUTH, "{user:?}");
        assert!(!err.message.contains("Sekr1t"), "{}", err.message);
    }
}

#[test]
fn logins_are_case_insensitive_like_dovecot() {
    let site = Site::new();
    login(&site.backend(), "PLAIN").unwrap();
    login(&site.backend(), "Ann@Example.org").unwrap();
}

#[test]
fn apop_works_for_plain_users_only() {
    let site = Site::new();
    let backend = site.backend();
    assert!(backend.supports_apop());
    let ts = "<1896.697170952@pop3host>";
    backend
        .apop("plain", &apop_digest(ts, "password"), ts, &conn())
        .unwrap();
    backend
        .apop(
            "plain",
            &apop_digest(ts, "password").to_uppercase(),
            ts,
            &conn(),
        )
        .unwrap();
    for (user, digest) in [
        ("plain", apop_digest(ts, "wrong")),
        ("plain", apop_digest("<other@pop3host>", "password")),
        ("sha512", apop_digest(ts, "password")),
        ("sha512", apop_digest(ts, "")),
        ("nobody", apop_digest(ts, "")),
        ("locked", apop_digest(ts, "")),
    ] {
        let err = backend.apop(user, &digest, ts, &conn()).unwrap_err();
        assert_eq!(err.code, ResponseCode::AUTH, "{user}");
    }

    let hashed_only = Site::with_users("sha512:{SHA512-CRYPT}$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/\n");
    assert!(!hashed_only.backend().supports_apop());
}

#[test]
fn the_passwd_file_is_reread_when_it_changes_and_a_bad_line_refuses_only_its_user() {
    let site = Site::with_users("ann:{PLAIN}password\n");
    let backend = site.backend();
    login(&backend, "ann").unwrap();
    fs::write(
        site.passwd(),
        "ann:{PLAIN}new password\nbob:{PLAIN}password\n",
    )
    .unwrap();
    assert!(login(&backend, "ann").is_err());
    backend
        .authenticate("ann", "new password", &conn())
        .unwrap();
    login(&backend, "bob").unwrap();
    fs::write(site.passwd(), "ann:{PLAIN}x\nbob:{BROKEN}\n").unwrap();
    assert!(
        login(&backend, "bob").is_err(),
        "bob's old password is gone"
    );
    backend.authenticate("ann", "x", &conn()).unwrap();
}

#[test]
fn init_errors_name_the_problem_and_never_show_a_hash() {
    let err = MaildirBackend::init("null").err().unwrap();
    assert_eq!(err.message, "maildir needs a config with passwd_file");

    let site = Site::with_users(
        "# users\nann:{PLAIN}x\nbob:{SHA512-CRYPT}$6$salt$0123456789abcdefNOTAHASH\n",
    );
    let err = MaildirBackend::init(&site.config(json!({}))).err().unwrap();
    let expected = format!("{}:3: user bob: ", site.passwd().display());
    assert!(err.message.starts_with(&expected), "{}", err.message);
    assert!(
        !err.message.contains("NOTAHASH") && !err.message.contains("$6$salt"),
        "{}",
        err.message
    );

    let err = MaildirBackend::init(&site.config(json!({"passwd_file": "/nonexistent/users"})))
        .err()
        .unwrap();
    assert!(
        err.message.contains("/nonexistent/users"),
        "{}",
        err.message
    );
    let err = MaildirBackend::init(&site.config(json!({"maildir": "/%u"})))
        .err()
        .unwrap();
    assert!(err.message.contains("/%u"), "{}", err.message);
    let err = MaildirBackend::init(&site.config(json!({"uidl": "imap"})))
        .err()
        .unwrap();
    assert!(err.message.contains("uidl"), "{}", err.message);
}

#[test]
fn homes_from_the_passwd_file_place_the_maildir() {
    let site = Site::with_users("");
    let home = site.dir.path().join("home/ann");
    fs::write(
        site.passwd(),
        format!(
            "ann:{{PLAIN}}password:1000:1000::{}:/bin/sh\n",
            home.display()
        ),
    )
    .unwrap();
    fs::create_dir_all(home.join("Maildir/new")).unwrap();
    fs::write(
        home.join("Maildir/new/1700000000.M1.h"),
        "Subject: hi\n\nhi\n",
    )
    .unwrap();
    // ann owns her maildir, as in a home-directory setup; run as root, the backend reads it
    // with her uid, which needs a path she can traverse.
    #[cfg(unix)]
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(site.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        for dir in [
            "home",
            "home/ann",
            "home/ann/Maildir",
            "home/ann/Maildir/new",
        ] {
            std::os::unix::fs::chown(site.dir.path().join(dir), Some(1000), Some(1000)).unwrap();
        }
        let message = home.join("Maildir/new/1700000000.M1.h");
        std::os::unix::fs::chown(message, Some(1000), Some(1000)).unwrap();
    }
    let backend = MaildirBackend::init(&json!({"passwd_file": site.passwd()}).to_string()).unwrap();
    let mut mailbox = login(&backend, "ann").unwrap();
    assert_eq!(mailbox.list().unwrap().len(), 1);

    // With %h in the template, a user without an absolute home is an init error.
    fs::write(site.passwd(), "ann:{PLAIN}password:1000:1000::relative\n").unwrap();
    let err = MaildirBackend::init(&json!({"passwd_file": site.passwd()}).to_string())
        .err()
        .unwrap();
    assert!(
        err.message.contains(":1: user ann:") && err.message.contains("home"),
        "{}",
        err.message
    );
}

#[test]
fn describe_documents_every_key() {
    let info = MaildirBackend::describe();
    assert_eq!(info.name, "maildir");
    assert!(!info.version.is_empty());
    for key in [
        "passwd_file",
        "passdb",
        "userdb",
        "\"passwd-file\"",
        "\"checkpassword\"",
        "timeout_seconds",
        "max_running",
        "\"system\"",
        "pam_service",
        "maildir",
        "create",
        "uidl",
        "no_flag_updates",
        "size_cache",
        "auth_cache",
        "ttl_seconds",
        "Example",
    ] {
        assert!(info.config_help.contains(key), "{key}");
    }
}
