//! The ABI compatibility promise, tested both ways with the frozen pop3_plugin_api 1.0.0 in
//! `tests/fixtures/abi-v1` (see its README): today's pop3host loads and serves a plugin built
//! against it, and a host built against it (`abi-v1-host`) loads today's plugins and drives
//! them through every callback. A change to plugin-api, the host or the plugins that would
//! break plugins or hosts already out there fails here.

mod common;

use common::abi_v1::{
    build_fixture, fixture_dir, fixture_plugin, fixture_target_dir, profile, V1Host,
};
use common::{crlf_normalized, plugin, pop3host, unstuff, Server, TempDir};
use md5::{Digest, Md5};
use std::path::Path;
use std::process::{Command, Output};

/// MD5 of the frozen copy (`plugin-api/Cargo.toml`, `plugin-api/src/*.rs`) and of the
/// fixture's `Cargo.lock`. It changes only when the copy is refreshed, which happens only on
/// an ABI major bump (README, "Refreshing"), or when a crate of the fixture's own joins its
/// lock (the last time: `host`, whose lock entry is the only change; the copy and every
/// dependency stayed as they were).
const FROZEN_DIGEST: &str = "f026a7fa1790e6f736d2313ec94b9534";

/// The messages of the fixture plugin, as it serves them.
const MESSAGES: [(&str, &str); 3] = [
    ("v1-1", "Subject: one\r\n\r\nfirst\r\nsecond\r\nthird\r\n"),
    ("v1-2", "Subject: two\r\n\r\n.dot\r\n"),
    ("v1-3", "Subject: three\n\nbare\nlf\n"),
];

/// What the fixture plugin accepts as the APOP digest of `v1`.
const APOP_DIGEST: &str = "0123456789abcdef0123456789abcdef";

fn describe(plugin: &Path) -> Output {
    common::process::output(
        Command::new(pop3host())
            .arg("--plugin")
            .arg(plugin)
            .arg("--describe")
            .env_remove("RUST_LOG"),
    )
}

fn size(text: &str) -> usize {
    crlf_normalized(text.as_bytes()).len()
}

#[test]
fn the_frozen_v1_plugin_is_described() {
    let output = describe(&fixture_plugin());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "today's pop3host refuses a plugin built against pop3_plugin_api 1.0.0: this change \
         to plugin-api breaks the plugins out there (see tests/fixtures/abi-v1/README.md):\n\
         {stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["name"], "abi-v1-fixture");
    assert_eq!(json["version"], "1.0.0");
    assert_eq!(json["abi_major"], 1);
    assert_eq!(json["config_help"], "any JSON; it is logged");
}

#[test]
fn the_frozen_v1_plugin_serves_every_callback() {
    let plugin = fixture_plugin();
    let config = r#"{"from":"abi_fixture"}"#;
    let server = Server::start(&[
        "--plugin",
        plugin.to_str().unwrap(),
        "--plugin-config",
        config,
    ]);
    server.wait_for_log(&format!("fixture: init config={config}"));
    // It predates the prefetch extension, so it offers none.
    server.wait_for_log("prefetch=false");

    // Before login: APOP offered (supports_apop), EXPIRE for everyone (expire(None)).
    let mut c = server.client();
    let greeting = c.line();
    assert!(
        greeting.starts_with("+OK") && greeting.contains('<'),
        "{greeting}"
    );
    assert_eq!(c.cmd("CAPA"), "+OK Capability list follows\r\n");
    let capa = String::from_utf8(c.body()).unwrap();
    assert!(capa.contains("EXPIRE NEVER\r\n"), "{capa}");
    assert!(!capa.contains("LOGIN-DELAY"), "{capa}");

    // USER/PASS; the list: a size from the list, one from `size`, one measured by the host.
    assert!(c.cmd("USER v1").starts_with("+OK"));
    let sizes: Vec<usize> = MESSAGES.iter().map(|(_, text)| size(text)).collect();
    let total: usize = sizes.iter().sum();
    assert_eq!(
        c.cmd("PASS pw"),
        format!("+OK Logged in, 3 messages ({total} octets).\r\n")
    );
    assert!(c.cmd("LIST").starts_with("+OK"));
    let list = String::from_utf8(c.body()).unwrap();
    assert_eq!(
        list,
        format!("1 {}\r\n2 {}\r\n3 {}\r\n", sizes[0], sizes[1], sizes[2])
    );
    assert!(c.cmd("UIDL").starts_with("+OK"));
    assert_eq!(c.body(), b"1 v1-1\r\n2 v1-2\r\n3 v1-3\r\n");
    server.wait_for_log("fixture: size index=1 id=v1-2");
    server.wait_for_log("fixture: size index=2 id=v1-3");
    server.wait_for_log("fixture: retrieve index=2 id=v1-3");

    // After login: the user's own policies (login_delay and expire with Some(user)).
    assert!(c.cmd("CAPA").starts_with("+OK"));
    let capa = String::from_utf8(c.body()).unwrap();
    assert!(capa.contains("LOGIN-DELAY 0\r\n"), "{capa}");
    assert!(capa.contains("EXPIRE 30\r\n"), "{capa}");

    // RETR streams the reader; the host stuffs the dot line and ends every line in CRLF.
    for (n, (_, text)) in MESSAGES.iter().enumerate() {
        assert!(c.cmd(&format!("RETR {}", n + 1)).starts_with("+OK"));
        let body = c.body();
        assert_eq!(unstuff(&body), crlf_normalized(text.as_bytes()), "RETR {n}");
    }
    assert!(c.cmd("RETR 2").starts_with("+OK"));
    assert_eq!(c.body(), b"Subject: two\r\n\r\n..dot\r\n");

    // TOP through `top` (message 1), and through `retrieve` when `top` gives None.
    assert!(c.cmd("TOP 1 1").starts_with("+OK"));
    assert_eq!(c.body(), b"Subject: one\r\n\r\nfirst\r\n");
    server.wait_for_log("fixture: top id=v1-1 lines=1");
    assert!(c.cmd("TOP 3 0").starts_with("+OK"));
    assert_eq!(c.body(), b"Subject: three\r\n\r\n");
    server.wait_for_log("fixture: top id=v1-3 lines=0");

    // Errors keep their codes across the boundary; a panic costs one session only.
    let mut second = server.client();
    assert!(second.line().starts_with("+OK"));
    assert!(second.cmd("USER v1").starts_with("+OK"));
    let reply = second.cmd("PASS pw");
    assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
    let mut wrong = server.client();
    assert!(wrong.line().starts_with("+OK"));
    assert!(wrong.cmd("USER v1").starts_with("+OK"));
    let reply = wrong.cmd("PASS nope");
    assert!(reply.starts_with("-ERR [AUTH]"), "{reply}");
    let mut panics = server.client();
    assert!(panics.line().starts_with("+OK"));
    assert!(panics.cmd("USER panic").starts_with("+OK"));
    let reply = panics.cmd("PASS pw");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");

    // UPDATE: delete gets the marked messages, then the mailbox is dropped (lock released).
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    assert_eq!(c.cmd("QUIT"), "+OK Logging out, 1 messages deleted.\r\n");
    server.wait_for_log("fixture: delete ids=v1-2");
    server.wait_for_log("fixture: mailbox dropped");

    // APOP: user, digest and the greeting's timestamp reach the plugin intact.
    let mut apop = server.client();
    let greeting = apop.line();
    let timestamp = &greeting[greeting.find('<').unwrap()..=greeting.rfind('>').unwrap()];
    let reply = apop.cmd(&format!("APOP v1 {APOP_DIGEST}"));
    assert!(reply.starts_with("+OK Logged in, 2 messages"), "{reply}");
    server.wait_for_log(&format!(
        "fixture: apop user=v1 digest={APOP_DIGEST} timestamp={timestamp}"
    ));
    assert!(apop.cmd("UIDL").starts_with("+OK"));
    assert_eq!(apop.body(), b"1 v1-1\r\n2 v1-3\r\n");
    assert!(apop.cmd("QUIT").starts_with("+OK"));

    // connect/disconnect with every field of the connection, and the config from init.
    let local = format!("local={} tls=false config={config}", server.addr);
    server.wait_for_log(&local);
    server.wait_for_log("peer=127.0.0.1:");
    server.wait_for_log("fixture: disconnect id=");
    let mut server = server;
    assert!(server.is_running(), "{}", server.log());
}

// --- the other direction: today's plugins in a 1.0 host --------------------------------

/// A plugin's mailbox as `abi-v1-host` listed it: (size from the list, id) per message.
fn listing(answer: &str) -> Vec<(Option<usize>, String)> {
    let entries = answer.split_whitespace().map(|entry| {
        let (size, id) = entry.split_once(':').expect("SIZE:ID");
        (size.parse().ok(), id.to_string())
    });
    let listed: Vec<_> = entries.collect();
    let mut ids: Vec<&String> = listed.iter().map(|(_, id)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), listed.len(), "ids are unique: {answer}");
    listed
}

/// Lists the mailbox in `slot`, asks `size` of every message and retrieves it to the end
/// (into `dir`); checks that every size, listed or from `size`, is the message's size on the
/// wire. Returns (id, text) per message, in list order.
fn every_message(host: &mut V1Host, slot: &str, dir: &Path) -> Vec<(String, Vec<u8>)> {
    let listed = listing(&host.ok(&format!("list {slot}")));
    let mut messages = Vec::new();
    for (index, (listed_size, id)) in listed.into_iter().enumerate() {
        let file = dir.join(format!("{slot}-{index}.eml"));
        let octets = host.ok(&format!("retrieve {slot} {index} {id} {}", file.display()));
        let text = std::fs::read(&file).unwrap();
        assert_eq!(octets, text.len().to_string(), "{id}: octets read");
        let wire = crlf_normalized(&text).len();
        let size = host.ok(&format!("size {slot} {index} {id}"));
        assert_eq!(size, wire.to_string(), "{id}: size");
        if let Some(listed) = listed_size {
            assert_eq!(listed, wire, "{id}: listed size");
        }
        messages.push((id, text));
    }
    messages
}

/// What today's pop3host says of `plugin`, as `abi-v1-host` answers `describe`.
fn described(plugin: &Path) -> String {
    let output = describe(plugin);
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let field = |key: &str| json[key].as_str().unwrap().to_string();
    let fields = ["name", "version", "description", "config_help"].map(field);
    format!(
        "ok {:?} {:?} {:?} {:?}",
        fields[0], fields[1], fields[2], fields[3]
    )
}

/// RFC 1939 §7: lowercase hex of MD5(timestamp + secret).
fn apop_digest(timestamp: &str, secret: &str) -> String {
    format!("{:x}", Md5::digest(format!("{timestamp}{secret}")))
}

const TIMESTAMP: &str = "<4711.1.1700000000@abi-v1-host>";
const CONNECT: &str = "connect c 42 127.0.0.1:50000 127.0.0.1:110 false";

/// A fresh directory for the messages `abi-v1-host` retrieves.
fn scratch(name: &str) -> TempDir {
    TempDir::new(name)
}

/// The promise's other half ("a newer plugin loads in an older host as far as the layout
/// goes"): static-messages as built from this workspace, in a host built against the frozen
/// 1.0.0, through every callback. Its built-in maildrop (user `test`, six messages: dot lines,
/// bare LF, no final newline, NUL bytes, a 4 MiB stream) with settings for `login_delay`
/// and `expire`, and a user whose `authenticate` panics.
#[test]
fn a_v1_host_drives_todays_static_messages_through_every_callback() {
    let plugin = plugin("static_messages");
    let dir = scratch("v1-host-static");
    let mut host = V1Host::start(&plugin);
    assert_eq!(host.call("describe"), described(&plugin));
    let refused = host.call(r#"init {"users": 1}"#);
    assert!(refused.starts_with("err SYS/PERM "), "{refused}");
    let config = serde_json::json!({
        "users": {
            "test": {"password": "test", "apop_secret": "test", "builtin": true,
                     "login_delay": 60, "expire": 30},
            "panics": {"password": "pw"},
        },
        "login_delay": 5,
        "expire": "never",
        "faults": [{"callback": "authenticate", "action": "panic", "user": "panics"}],
    });
    host.ok(&format!("init {config}"));
    assert_eq!(host.ok("supports_apop"), "true");
    assert_eq!(host.ok("login_delay"), "5");
    assert_eq!(host.ok("login_delay test"), "60");
    assert_eq!(host.ok("expire"), "never");
    assert_eq!(host.ok("expire test"), "30");
    host.ok(CONNECT);

    // Error codes cross as they are; a panic is caught by today's export glue.
    let auth = host.call("auth a c test wrong");
    assert!(auth.starts_with("err AUTH "), "{auth}");
    let auth = host.call("auth a c nobody test");
    assert!(auth.starts_with("err AUTH "), "{auth}");
    let panicked = host.call("auth a c panics pw");
    assert!(panicked.starts_with("err SYS/TEMP "), "{panicked}");

    // A login, and a second one while the first mailbox lives.
    host.ok("auth a c test test");
    let in_use = host.call("auth b c test test");
    assert!(in_use.starts_with("err IN-USE "), "{in_use}");
    let digest = apop_digest(TIMESTAMP, "test");
    let in_use = host.call(&format!("apop b c test {digest} {TIMESTAMP}"));
    assert!(in_use.starts_with("err IN-USE "), "{in_use}");

    let messages = every_message(&mut host, "a", &dir);
    let ids: Vec<&str> = messages.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["test-1", "test-2", "test-3", "test-4", "test-5", "test-6"]
    );
    assert!(
        messages[5].1.len() > 4_000_000,
        "the stream, read to its end"
    );
    // static-messages leaves TOP to the host (it cuts `retrieve`).
    let top = dir.join("top.eml");
    assert_eq!(
        host.ok(&format!("top a 0 test-1 1 {}", top.display())),
        "none"
    );

    // Deletions last for the backend's life: the next session no longer lists test-2.
    host.ok("delete a 1 test-2");
    host.ok("drop a");
    let wrong = host.call(&format!("apop b c test {} {TIMESTAMP}", "0".repeat(32)));
    assert!(wrong.starts_with("err AUTH "), "{wrong}");
    host.ok(&format!("apop b c test {digest} {TIMESTAMP}"));
    let remaining = listing(&host.ok("list b"));
    let ids: Vec<&str> = remaining.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, ["test-1", "test-3", "test-4", "test-5", "test-6"]);
    host.ok("drop b");
    host.ok("disconnect c");
    host.ok("drop_backend");
    host.finish();
}

/// The maildir plugin as built from this workspace, in the 1.0 host, on a maildir made here:
/// its `delete` removes the file.
#[test]
fn a_v1_host_drives_todays_maildir_plugin_through_every_callback() {
    let site = scratch("v1-host-maildir");
    let users = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/maildir/tests/data/users");
    std::fs::copy(users, site.join("users")).unwrap();
    let maildir = site.join("mail/plain");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let files = [
        ("new/1700000001.M1P1.host", "Subject: one\n\nbare\nlf\n"),
        (
            "new/1700000002.M2P1.host",
            "Subject: two\r\n\r\n.dot\r\nno end",
        ),
        (
            "cur/1700000003.M3P1.host:2,S",
            "Subject: three\r\n\r\nseen\r\n",
        ),
    ];
    for (path, text) in files {
        std::fs::write(maildir.join(path), text).unwrap();
    }
    let retrieved = scratch("v1-host-maildir-retrieved");

    let plugin = plugin("maildir");
    let mut host = V1Host::start(&plugin);
    assert_eq!(host.call("describe"), described(&plugin));
    let config = serde_json::json!({
        "passwd_file": site.join("users"),
        "maildir": format!("{}/mail/%u", site.display()),
    });
    host.ok(&format!("init {config}"));
    assert_eq!(host.ok("supports_apop"), "true", "a PLAIN user exists");
    for command in ["login_delay", "login_delay plain", "expire", "expire plain"] {
        host.ok(command);
    }
    host.ok(CONNECT);
    let auth = host.call("auth a c plain wrong");
    assert!(auth.starts_with("err AUTH "), "{auth}");
    host.ok("auth a c plain password");
    let in_use = host.call("auth b c plain password");
    assert!(in_use.starts_with("err IN-USE "), "{in_use}");

    let messages = every_message(&mut host, "a", &retrieved);
    let mut ids: Vec<&str> = messages.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort();
    let expected = [
        "1700000001.M1P1.host",
        "1700000002.M2P1.host",
        "1700000003.M3P1.host",
    ];
    assert_eq!(ids, expected);
    for (index, (id, text)) in messages.iter().enumerate() {
        let stored = files.iter().find(|(path, _)| path.contains(id.as_str()));
        assert_eq!(text, stored.unwrap().1.as_bytes(), "{id}");
        let top = retrieved.join(format!("top-{index}.eml"));
        let answer = host.ok(&format!("top a {index} {id} 0 {}", top.display()));
        if answer != "none" {
            let cut = std::fs::read(&top).unwrap();
            assert!(
                text.starts_with(&cut),
                "{id}: TOP is a prefix of the message"
            );
        }
    }

    // UPDATE: the file of the deleted message is gone, the others stay.
    let doomed = expected[1];
    let index = messages.iter().position(|(id, _)| id == doomed).unwrap();
    host.ok(&format!("delete a {index} {doomed}"));
    host.ok("drop a");
    let digest = apop_digest(TIMESTAMP, "password");
    host.ok(&format!("apop b c plain {digest} {TIMESTAMP}"));
    assert_eq!(listing(&host.ok("list b")).len(), 2);
    host.ok("drop b");
    host.ok("disconnect c");
    host.ok("drop_backend");
    host.finish();
    let mut names: Vec<String> = ["new", "cur"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(maildir.join(sub)).unwrap())
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(!names.iter().any(|n| n.starts_with(doomed)), "{names:?}");
    for kept in [expected[0], expected[2]] {
        assert!(names.iter().any(|n| n.starts_with(kept)), "{names:?}");
    }
    let _ = std::fs::remove_dir_all(&site);
    let _ = std::fs::remove_dir_all(&retrieved);
}

/// A plugin whose v1 layout differs from the host's (two fields of
/// `FfiConnection` swapped, as a careless edit of plugin-api would do) is refused at load.
/// Without this, the tests above could pass because nothing is compared at all.
#[test]
fn a_plugin_with_a_changed_layout_is_refused() {
    let mutant = TempDir::new("abi-mutant");
    copy_dir(&fixture_dir(), &mutant);
    let ffi = mutant.join("plugin-api/src/ffi.rs");
    let source = std::fs::read_to_string(&ffi).unwrap();
    let fields = "    pub peer: RString,\n    pub local: RString,\n";
    assert!(
        source.contains(fields),
        "the frozen ffi.rs has peer, then local"
    );
    let swapped = "    pub local: RString,\n    pub peer: RString,\n";
    std::fs::write(&ffi, source.replace(fields, swapped)).unwrap();
    // Other directory, library and binary names. Cargo names a path package's artifacts by its path
    // relative to the workspace root: under the same names, the mutant's artifacts would
    // replace the fixture's in the shared target dir.
    for (from, to) in [
        ("plugin-api", "plugin-api-mutant"),
        ("plugin", "plugin-mutant"),
        ("host", "host-mutant"),
    ] {
        std::fs::rename(mutant.join(from), mutant.join(to)).unwrap();
    }
    let edits = [
        (
            "Cargo.toml",
            r#"["plugin-api", "plugin", "host"]"#,
            r#"["plugin-api-mutant", "plugin-mutant", "host-mutant"]"#,
        ),
        (
            "plugin-mutant/Cargo.toml",
            r#""../plugin-api""#,
            r#""../plugin-api-mutant""#,
        ),
        (
            "plugin-mutant/Cargo.toml",
            r#"name = "abi_v1_fixture""#,
            r#"name = "abi_v1_mutant""#,
        ),
        (
            "host-mutant/Cargo.toml",
            r#""../plugin-api""#,
            r#""../plugin-api-mutant""#,
        ),
        (
            "host-mutant/Cargo.toml",
            "[[bin]]\nname = \"abi-v1-host\"",
            "[[bin]]\nname = \"abi-v1-host-mutant\"",
        ),
    ];
    for (file, from, to) in edits {
        let path = mutant.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has {from}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    build_fixture(&mutant);
    let library = fixture_target_dir()
        .join(profile())
        .join("libabi_v1_mutant.so");
    let output = describe(&library);
    let _ = std::fs::remove_dir_all(&mutant);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a changed layout was loaded");
    assert!(
        stderr.contains("libabi_v1_mutant.so") && stderr.contains("layout"),
        "{stderr}"
    );
    assert!(stderr.lines().count() <= 20, "a short summary: {stderr}");
}

/// The frozen copy stays frozen: refreshing it would hide exactly the breakage this test
/// exists to find.
#[test]
fn the_frozen_copy_is_unchanged() {
    let dir = fixture_dir();
    let mut files = vec![dir.join("plugin-api/Cargo.toml"), dir.join("Cargo.lock")];
    let src = dir.join("plugin-api/src");
    files.extend(
        std::fs::read_dir(&src)
            .unwrap()
            .map(|entry| entry.unwrap().path()),
    );
    files.sort();
    let mut md5 = Md5::new();
    for file in &files {
        let relative = file.strip_prefix(&dir).unwrap();
        let content = std::fs::read(file).unwrap();
        md5.update(relative.to_string_lossy().as_bytes());
        md5.update([0]);
        md5.update((content.len() as u64).to_le_bytes());
        md5.update(&content);
    }
    let digest = format!("{:x}", md5.finalize());
    assert_eq!(
        digest, FROZEN_DIGEST,
        "tests/fixtures/abi-v1 changed. Its plugin-api is what plugins built against 1.0.0 \
         contain: never edit it to make a test pass (fix plugin-api instead). Refresh it only \
         on an ABI major bump, as its README.md says under \"Refreshing\", then update \
         FROZEN_DIGEST."
    );
}

/// A deliberate ABI major bump makes the serving tests fail; this says what to do then.
#[test]
fn the_frozen_copy_is_of_this_abi_major() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let major = |ffi: &Path| -> u32 {
        let text = std::fs::read_to_string(ffi).unwrap();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("pub const ABI_MAJOR: u32 = "))
            .expect("ABI_MAJOR in ffi.rs");
        line.trim_end_matches(';').parse().unwrap()
    };
    let version = |manifest: &Path| -> String {
        let text = std::fs::read_to_string(manifest).unwrap();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .expect("a version in Cargo.toml");
        line.trim_end_matches('"').to_string()
    };
    let frozen = fixture_dir();
    assert_eq!(major(&frozen.join("plugin-api/src/ffi.rs")), 1);
    assert_eq!(version(&frozen.join("plugin-api/Cargo.toml")), "1.0.0");
    let (current_major, current_version) = (
        major(&root.join("plugin-api/src/ffi.rs")),
        version(&root.join("plugin-api/Cargo.toml")),
    );
    let advice = "plugin-api left ABI v1: follow tests/fixtures/abi-v1/README.md, \
                  \"Refreshing: only on an ABI major bump\"";
    assert_eq!(current_major, 1, "{advice}");
    assert!(current_version.starts_with("1."), "{advice}");
    let readme = std::fs::read_to_string(frozen.join("README.md")).unwrap();
    assert!(readme.contains("## Refreshing: only on an ABI major bump"));
    assert!(readme.contains("**Never edit `plugin-api/` here**"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
