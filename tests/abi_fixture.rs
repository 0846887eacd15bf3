//! The ABI compatibility promise, tested: today's pop3host loads and serves a plugin built
//! against the frozen pop3_plugin_api 1.0.0 in `tests/fixtures/abi-v1` (see its README). A
//! change to plugin-api or the host that would break plugins already out there fails here.

mod common;

use common::{bin_dir, crlf_normalized, pop3host, unstuff, Server};
use md5::{Digest, Md5};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// MD5 of the frozen copy (`plugin-api/Cargo.toml`, `plugin-api/src/*.rs`) and of the
/// fixture's `Cargo.lock`. It changes only when the copy is refreshed, which happens only on
/// an ABI major bump (README, "Refreshing").
const FROZEN_DIGEST: &str = "622c8f7437a7dadb49406b4f111825c5";

/// The messages of the fixture plugin, as it serves them.
const MESSAGES: [(&str, &str); 3] = [
    ("v1-1", "Subject: one\r\n\r\nfirst\r\nsecond\r\nthird\r\n"),
    ("v1-2", "Subject: two\r\n\r\n.dot\r\n"),
    ("v1-3", "Subject: three\n\nbare\nlf\n"),
];

/// What the fixture plugin accepts as the APOP digest of `v1`.
const APOP_DIGEST: &str = "0123456789abcdef0123456789abcdef";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/abi-v1")
}

/// `<main target dir>/abi-v1-fixture`: beside the main build, wherever CARGO_TARGET_DIR put
/// it, but its own directory, since the fixture is another workspace with another lock.
fn fixture_target_dir() -> PathBuf {
    bin_dir()
        .parent()
        .expect("the target dir holds the profile dir")
        .join("abi-v1-fixture")
}

fn profile() -> &'static str {
    if bin_dir().ends_with("release") {
        "release"
    } else {
        "debug"
    }
}

/// Builds the workspace at `dir` (the fixture or a mutant of it) with the locked
/// dependencies, into the fixture's target dir.
fn cargo_build(dir: &Path) {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "--locked", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(fixture_target_dir());
    if profile() == "release" {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("cargo runs");
    assert!(status.success(), "building {} failed", dir.display());
}

/// The fixture plugin, built once per test binary.
fn fixture_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            cargo_build(&fixture_dir());
            fixture_target_dir()
                .join(profile())
                .join("libabi_v1_fixture.so")
        })
        .clone()
}

fn describe(plugin: &Path) -> Output {
    Command::new(pop3host())
        .arg("--plugin")
        .arg(plugin)
        .arg("--describe")
        .env_remove("RUST_LOG")
        .output()
        .expect("pop3host runs")
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

/// The other direction: a plugin whose v1 layout differs from the host's (two fields of
/// `FfiConnection` swapped, as a careless edit of plugin-api would do) is refused at load.
/// Without this, the tests above could pass because nothing is compared at all.
#[test]
fn a_plugin_with_a_changed_layout_is_refused() {
    let mutant = std::env::temp_dir().join(format!("pop3host-abi-mutant-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&mutant);
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
    // Other directory and library names. Cargo names a path package's artifacts by its path
    // relative to the workspace root: under the same names, the mutant's artifacts would
    // replace the fixture's in the shared target dir.
    for (from, to) in [
        ("plugin-api", "plugin-api-mutant"),
        ("plugin", "plugin-mutant"),
    ] {
        std::fs::rename(mutant.join(from), mutant.join(to)).unwrap();
    }
    let edits = [
        (
            "Cargo.toml",
            r#"["plugin-api", "plugin"]"#,
            r#"["plugin-api-mutant", "plugin-mutant"]"#,
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
    ];
    for (file, from, to) in edits {
        let path = mutant.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has {from}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    cargo_build(&mutant);
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
