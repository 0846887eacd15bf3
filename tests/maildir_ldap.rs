//! The maildir plugin's `ldap` driver end to end: the real pop3host binary with libmaildir.so
//! and a real OpenLDAP (Debian's slapd, started by the test on loopback with a temporary
//! configuration and database: see common/ldap.rs). Each passdb mode (bind with a DN
//! template, search then bind, a `{SSHA}` userPassword read with a service bind) with right
//! and wrong passwords, unknown users and logins that would break out of the DN or the filter;
//! an unknown user and a wrong password answered no sooner than a slow known one; a lying
//! directory (see common/fake_ldap.rs: a search that never ends, a huge entry, a size limit
//! exceeded after one entry) answered [SYS/TEMP] by the deadline; a slow hash check not
//! holding the pool's one connection; an entry with an unknown hash scheme or no hash refused
//! as an unknown user; the userdb's home, maildir and uid/gid reaching the session; a directory that cannot answer (an ambiguous filter, a wrong
//! service password, a missing base) and slapd killed ([SYS/TEMP], then back by itself) and
//! frozen (SIGSTOP: [SYS/TEMP] by the deadline); LDAPS and StartTLS with a test CA, and a
//! server certificate no configured CA signed; with the authentication cache, a changed
//! userPassword refusing the old password at once.

mod common;

use common::auth_cache::login_is;
use common::cluster::server_certificate;
use common::fake_ldap;
use common::ldap::{hash, Slapd, Tls, SERVICE_DN, SERVICE_PASSWORD, SUFFIX};
use common::try_login;
use common::user_sources::{
    lock_owner_at, passwd_file_userdb, retr_and_quit, userdb_line, Site, AUTH_FAILED,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Every test user's password (a word that no log line has by chance).
const PASSWORD: &str = "correct-horse-7";

/// bob's uid and gid: no system account, only the directory's numbers.
const BOB_IDS: (u32, u32) = (4242, 4243);

fn people_base() -> String {
    format!("ou=people,{SUFFIX}")
}

/// ann (uid and gid 65534, her home in the site) and bob (his own maildir in
/// mailMessageStore, a home that does not exist).
fn people(site: &Site) -> String {
    let password = hash(PASSWORD);
    let base = people_base();
    let ann_home = site.home("ann");
    let bob_maildir = site.path("mail/bob");
    format!(
        "dn: uid=ann,{base}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         uid: ann\ncn: Ann\nsn: Ann\nuidNumber: 65534\ngidNumber: 65534\n\
         homeDirectory: {home}\nuserPassword: {password}\n\n\
         dn: uid=bob,{base}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         objectClass: pop3hostMailUser\nuid: bob\ncn: Bob\nsn: Bob\nuidNumber: {uid}\n\
         gidNumber: {gid}\nhomeDirectory: /nonexistent\nmailMessageStore: {maildir}\n\
         userPassword: {password}\n\n",
        home = ann_home.display(),
        maildir = bob_maildir.display(),
        uid = BOB_IDS.0,
        gid = BOB_IDS.1,
    )
}

/// A site where ann and bob each have one message, and slapd with both.
fn site_and_directory(name: &str, tls: Option<&Tls>) -> (Site, Slapd) {
    common::require_root("the userdb's uid and gid are switched to");
    let site = Site::new(name);
    site.deliver("ann", "Subject: hi\n\nhello ann\n", 65534, 65534);
    site.deliver_to(
        &site.path("mail/bob"),
        "Subject: hi\n\nhello bob\n",
        BOB_IDS.0,
        BOB_IDS.1,
    );
    let slapd = Slapd::start(&people(&site), tls);
    (site, slapd)
}

/// `{"driver": "ldap", "url": url}` with `keys`.
fn ldap(url: &str, keys: Value) -> Value {
    let mut source = json!({"driver": "ldap", "url": url});
    source
        .as_object_mut()
        .unwrap()
        .extend(keys.as_object().unwrap().clone());
    source
}

/// The three passdb modes, named.
fn passdbs(url: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "bind with a DN template",
            ldap(url, json!({"user_dn": format!("uid=%u,{}", people_base())})),
        ),
        (
            "search then bind",
            ldap(
                url,
                json!({"base": people_base(), "filter": "(&(objectClass=posixAccount)(uid=%u))"}),
            ),
        ),
        (
            "a hash attribute",
            ldap(
                url,
                json!({"base": people_base(), "password_attr": "userPassword",
                       "bind_dn": SERVICE_DN, "bind_password": SERVICE_PASSWORD}),
            ),
        ),
    ]
}

fn userdb(url: &str, keys: Value) -> Value {
    let mut keys = keys;
    keys.as_object_mut().unwrap().extend(
        json!({"base": people_base(), "maildir_attr": "mailMessageStore"})
            .as_object()
            .unwrap()
            .clone(),
    );
    ldap(url, keys)
}

#[test]
fn each_passdb_mode_answers_right_wrong_and_unknown() {
    let (site, slapd) = site_and_directory("ldap-modes", None);
    for (mode, passdb) in passdbs(&slapd.url()) {
        let server = site.start(passdb, userdb(&slapd.url(), json!({})));
        let (mut c, reply) = try_login(&server, "ann", PASSWORD);
        assert!(
            reply.starts_with("+OK"),
            "{mode}: {reply}\n{}",
            server.log()
        );
        assert!(
            retr_and_quit(&mut c, 1).ends_with(b"hello ann\r\n"),
            "{mode}"
        );
        assert_eq!(try_login(&server, "ann", "wrong").1, AUTH_FAILED, "{mode}");
        assert_eq!(
            try_login(&server, "ghost", PASSWORD).1,
            AUTH_FAILED,
            "{mode}"
        );
        // Logins that would change the DN or the filter, were they not escaped: a wildcard
        // matching both users would be "more than one entry" ([SYS/TEMP]), another DN
        // another user.
        for hostile in ["*", "ann,ou=people", "ann)(uid=*", "*)(|(uid=*"] {
            assert_eq!(
                try_login(&server, hostile, PASSWORD).1,
                AUTH_FAILED,
                "{mode}: {hostile}"
            );
        }
        assert!(!server.log().contains(PASSWORD), "{mode}: {}", server.log());
        assert!(!server.log().contains(SERVICE_PASSWORD), "{mode}");
    }
}

#[test]
fn with_the_auth_cache_a_changed_hash_attribute_is_refused_at_once() {
    let (site, mut slapd) = site_and_directory("ldap-cache", None);
    let (_, hash_attribute) = passdbs(&slapd.url()).remove(2);
    let server = site.start_config(json!({
        "passdb": hash_attribute,
        "userdb": userdb(&slapd.url(), json!({})),
        "maildir": "~/Maildir",
        "auth_cache": {"size": 10, "ttl_seconds": 600},
    }));
    for _ in 0..2 {
        login_is(&server, "ann", PASSWORD, "+OK");
        login_is(&server, "ann", "wrong", "-ERR [AUTH]");
    }
    let new_password = "battery-staple-8";
    slapd.modify(&format!(
        "dn: uid=ann,{}\nchangetype: modify\nreplace: userPassword\nuserPassword: {}\n",
        people_base(),
        hash(new_password)
    ));
    login_is(&server, "ann", PASSWORD, "-ERR [AUTH]");
    login_is(&server, "ann", new_password, "+OK");
    login_is(&server, "ann", new_password, "+OK");
    login_is(&server, "ann", PASSWORD, "-ERR [AUTH]");
}

#[test]
fn userdb_fields_reach_the_maildir_and_the_uid() {
    let (site, slapd) = site_and_directory("ldap-userdb", None);
    let (_, passdb) = passdbs(&slapd.url()).remove(1);
    let server = site.start(passdb, userdb(&slapd.url(), json!({})));
    // ann: the maildir template under the directory's homeDirectory, as uid:gid 65534.
    let (mut c, reply) = try_login(&server, "ann", PASSWORD);
    assert!(reply.starts_with("+OK"), "{reply}\n{}", server.log());
    assert!(retr_and_quit(&mut c, 1).ends_with(b"hello ann\r\n"));
    assert_eq!(site.lock_owner("ann"), (65534, 65534));
    // bob: the maildir in mailMessageStore, as the directory's uid and gid.
    let (mut c, reply) = try_login(&server, "bob", PASSWORD);
    assert!(reply.starts_with("+OK"), "{reply}\n{}", server.log());
    assert!(retr_and_quit(&mut c, 1).ends_with(b"hello bob\r\n"));
    assert_eq!(lock_owner_at(&site.path("mail/bob")), BOB_IDS);
}

#[test]
fn directory_trouble_is_temporary_not_a_wrong_password() {
    let (site, slapd) = site_and_directory("ldap-trouble", None);
    let url = slapd.url();
    let (_, hash_mode) = passdbs(&url).remove(2);
    let mut wrong_service_password = hash_mode.clone();
    wrong_service_password["bind_password"] = json!("not-the-service-password");
    let mut missing_base = hash_mode;
    missing_base["base"] = json!(format!("ou=nowhere,{SUFFIX}"));
    for (what, passdb, logged) in [
        (
            "a filter that singles out no user",
            ldap(
                &url,
                json!({"base": people_base(), "filter": "(|(uid=%u)(uid=bob))"}),
            ),
            "more than one entry",
        ),
        ("a wrong service password", wrong_service_password, "rc=49"),
        ("a base that does not exist", missing_base, "LDAP result 32"),
    ] {
        let server = site.start(passdb, userdb(&url, json!({})));
        let (_c, reply) = try_login(&server, "ann", PASSWORD);
        assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{what}: {reply}");
        server.wait_for_log(logged);
    }
}

#[test]
fn a_server_down_is_temporary_and_the_connections_come_back() {
    let (site, mut slapd) = site_and_directory("ldap-down", None);
    let (_, passdb) = passdbs(&slapd.url()).remove(2);
    let server = site.start(passdb, userdb(&slapd.url(), json!({})));
    // The userdb alone in LDAP: its own pool, down too.
    let users = site.path("users");
    std::fs::write(&users, format!("ann:{{PLAIN}}{PASSWORD}\n")).unwrap();
    let file_passdb = json!({"driver": "passwd-file", "path": users});
    let userdb_only = site.start(file_passdb, userdb(&slapd.url(), json!({})));
    // Connections are made and kept in the pools.
    for server in [&server, &userdb_only] {
        assert!(try_login(server, "ann", PASSWORD).1.starts_with("+OK"));
    }
    slapd.stop();
    for (server, user) in [(&server, "ann"), (&server, "ghost"), (&userdb_only, "ann")] {
        let (_c, reply) = try_login(server, user, PASSWORD);
        assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{user}: {reply}");
    }
    // The kept connections are dead; new ones are made when slapd is back.
    slapd.start_again();
    for server in [&server, &userdb_only] {
        let (_c, reply) = try_login(server, "ann", PASSWORD);
        assert!(reply.starts_with("+OK"), "{reply}\n{}", server.log());
    }
}

#[test]
fn a_frozen_server_is_temporary_by_the_deadline() {
    let (site, slapd) = site_and_directory("ldap-frozen", None);
    for (mode, passdb) in passdbs(&slapd.url()) {
        let mut passdb = passdb;
        passdb["timeout_seconds"] = json!(1);
        let server = site.start(passdb, userdb(&slapd.url(), json!({"timeout_seconds": 1})));
        assert!(
            try_login(&server, "ann", PASSWORD).1.starts_with("+OK"),
            "{mode}"
        );
        slapd.freeze(true);
        let started = Instant::now();
        let (_c, reply) = try_login(&server, "ann", PASSWORD);
        let took = started.elapsed();
        slapd.freeze(false);
        assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{mode}: {reply}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "{mode}: answered after {took:?}"
        );
        let (_c, reply) = try_login(&server, "ann", PASSWORD);
        assert!(
            reply.starts_with("+OK"),
            "{mode}: {reply}\n{}",
            server.log()
        );
    }
}

#[test]
fn unknown_users_and_wrong_passwords_wait_as_long_as_the_slowest_known_check() {
    let (site, slapd) = site_and_directory("ldap-pace", None);
    // A bind to a templated DN, where the server tells no difference, and a search.
    for (mode, passdb) in passdbs(&slapd.url()).into_iter().take(2) {
        let server = site.start(passdb, userdb(&slapd.url(), json!({})));
        // ann's check is held up: slapd is frozen until her request has waited SLOW.
        const SLOW: Duration = Duration::from_millis(600);
        slapd.freeze(true);
        let addr = server.addr;
        let ann = std::thread::spawn(move || {
            let mut c = common::Client::connect(addr);
            assert!(c.line().starts_with("+OK"));
            assert!(c.cmd("USER ann").starts_with("+OK"));
            c.cmd(&format!("PASS {PASSWORD}"))
        });
        slapd.wait_for_unread_request();
        std::thread::sleep(SLOW);
        slapd.freeze(false);
        let reply = ann.join().unwrap();
        assert!(reply.starts_with("+OK"), "{mode}: {reply}");
        // ghost's search or bind is quick, the answer is not.
        let started = Instant::now();
        assert_eq!(
            try_login(&server, "ghost", PASSWORD).1,
            AUTH_FAILED,
            "{mode}"
        );
        let took = started.elapsed();
        assert!(took >= SLOW, "{mode}: ghost answered after {took:?}");
        // A wrong password waits by the same rule, not at its own quicker time.
        let started = Instant::now();
        assert_eq!(try_login(&server, "ann", "wrong").1, AUTH_FAILED, "{mode}");
        let took = started.elapsed();
        assert!(
            took >= SLOW,
            "{mode}: a wrong password answered after {took:?}"
        );
    }
}

#[test]
fn ldaps_and_starttls_trust_the_configured_ca_only() {
    let (ca, cert, key) = server_certificate();
    let (site, slapd) = site_and_directory("ldap-tls", Some(&Tls { ca, cert, key }));
    let ca_file = slapd.path("ca.pem");
    let tls_sources = [
        (slapd.ldaps_url(), json!({"ca_file": ca_file})),
        (slapd.url(), json!({"ca_file": ca_file, "starttls": true})),
    ];
    for (url, tls) in &tls_sources {
        let (_, mut passdb) = passdbs(url).remove(0);
        passdb
            .as_object_mut()
            .unwrap()
            .extend(tls.as_object().unwrap().clone());
        let server = site.start(passdb, userdb(url, tls.clone()));
        let (_c, reply) = try_login(&server, "ann", PASSWORD);
        assert!(
            reply.starts_with("+OK"),
            "{url} {tls}: {reply}\n{}",
            server.log()
        );
        assert_eq!(try_login(&server, "ann", "wrong").1, AUTH_FAILED, "{url}");
    }
    // A CA that did not sign slapd's certificate: no TLS session, so no login.
    let (other_ca, _, _) = server_certificate();
    let other_ca_file = site.path("other-ca.pem");
    std::fs::write(&other_ca_file, other_ca).unwrap();
    let untrusted = json!({"ca_file": other_ca_file});
    let (_, mut passdb) = passdbs(&slapd.ldaps_url()).remove(0);
    passdb
        .as_object_mut()
        .unwrap()
        .extend(untrusted.as_object().unwrap().clone());
    let server = site.start(passdb, userdb(&slapd.ldaps_url(), untrusted));
    let (_c, reply) = try_login(&server, "ann", PASSWORD);
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
}

/// A site where ann has one message, and a passdb searching (then binding) on `url` with a
/// passwd-file userdb: the directory is only asked for the password.
fn lying_directory_site(name: &str, url: &str) -> (Site, common::Server) {
    common::require_root("the userdb's uid and gid are switched to");
    let site = Site::new(name);
    site.deliver("ann", "Subject: hi\n\nhello ann\n", 65534, 65534);
    let userdb = passwd_file_userdb(
        &site.path("userdb"),
        &userdb_line(&site, "ann", 65534, 65534),
    );
    let passdb = ldap(url, json!({"base": "o=lies", "timeout_seconds": 1}));
    let server = site.start(passdb, userdb);
    (site, server)
}

#[test]
fn a_search_that_never_ends_is_temporary_by_the_deadline() {
    let url = fake_ldap::start(fake_ldap::Search::Trickle);
    let (_site, server) = lying_directory_site("ldap-trickle", &url);
    for _ in 0..2 {
        let started = Instant::now();
        let (_c, reply) = try_login(&server, "ann", PASSWORD);
        let took = started.elapsed();
        assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "answered after {took:?}"
        );
    }
    server.wait_for_log("the search did not end by the deadline");
}

#[test]
fn a_search_that_brings_too_much_or_claims_more_is_temporary() {
    for (search, logged) in [
        (
            fake_ldap::Search::HugeEntry(1 << 20),
            "more than 65536 bytes",
        ),
        (fake_ldap::Search::SizeLimitAfterOne, "LDAP result 4"),
    ] {
        let url = fake_ldap::start(search);
        let (_site, server) = lying_directory_site("ldap-lies", &url);
        let (_c, reply) = try_login(&server, "ann", PASSWORD);
        assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{logged}: {reply}");
        server.wait_for_log(logged);
    }
}

/// ann's userPassword: SHA512-CRYPT with a million rounds (as many as a hash may have), so
/// that checking a password against it takes a while.
const SLOW_HASH: &str = "{SHA512-CRYPT}$6$rounds=1000000$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";

#[test]
fn a_slow_hash_check_does_not_hold_the_pooled_connection() {
    let (site, mut slapd) = site_and_directory("ldap-slow-hash", None);
    slapd.modify(&format!(
        "dn: uid=ann,{}\nchangetype: modify\nreplace: userPassword\nuserPassword: {SLOW_HASH}\n",
        people_base()
    ));
    let (_, mut passdb) = passdbs(&slapd.url()).remove(2);
    passdb["pool_size"] = json!(1);
    let server = site.start(passdb, userdb(&slapd.url(), json!({})));
    // ann's wrong password pays for the million rounds; bob, on the pool's one connection
    // meanwhile, does not wait for them.
    let mut ann = server.client();
    assert!(ann.line().starts_with("+OK"));
    assert!(ann.cmd("USER ann").starts_with("+OK"));
    let ann_started = Instant::now();
    ann.send(b"PASS wrong\r\n");
    let started = Instant::now();
    let (_c, reply) = try_login(&server, "bob", PASSWORD);
    let bob_took = started.elapsed();
    let ann_reply = ann.line();
    let ann_took = ann_started.elapsed();
    assert!(reply.starts_with("+OK"), "{reply}\n{}", server.log());
    assert_eq!(ann_reply, AUTH_FAILED);
    assert!(
        bob_took * 2 < ann_took,
        "bob answered after {bob_took:?}, ann's slow check after {ann_took:?}"
    );
}

#[test]
fn an_entry_without_a_usable_hash_is_refused_as_an_unknown_user() {
    let (site, mut slapd) = site_and_directory("ldap-unusable-hash", None);
    // ann's hash has a scheme nobody knows; bob has no userPassword at all.
    slapd.modify(&format!(
        "dn: uid=ann,{base}\nchangetype: modify\nreplace: userPassword\nuserPassword: {{ROT13}}frperg\n\n\
         dn: uid=bob,{base}\nchangetype: modify\ndelete: userPassword\n",
        base = people_base()
    ));
    let (_, passdb) = passdbs(&slapd.url()).remove(2);
    let server = site.start(passdb, userdb(&slapd.url(), json!({})));
    for (user, logged) in [
        ("ann", "the hash of uid=ann"),
        ("bob", "has no userPassword the service can read"),
    ] {
        let started = Instant::now();
        assert_eq!(try_login(&server, user, PASSWORD).1, AUTH_FAILED, "{user}");
        let took = started.elapsed();
        // As long as any refusal: the pacing rule's floor, with no known user checked yet.
        assert!(took >= Duration::from_millis(200), "{user}: after {took:?}");
        server.wait_for_log(logged);
    }
    assert!(!server.log().contains("frperg"), "{}", server.log());
}
