//! The Debian package: built with cargo-deb from a release build, unpacked with `dpkg-deb -x`
//! into a temporary directory, and serving mail from the unpacked tree with its plugins found
//! by name.

mod common;

use common::process::{run, run_within};
use common::{Server, TempDir, BUILD_DEADLINE};
use std::path::{Path, PathBuf};
use std::process::Command;

fn cargo() -> Command {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(env!("CARGO_MANIFEST_DIR"));
    cargo
}

/// Builds the package into `dir`; its path.
fn build_package(dir: &Path) -> PathBuf {
    let release = [
        "build",
        "--release",
        "--quiet",
        "-p",
        "pop3host",
        "-p",
        "static-messages",
        "-p",
        "maildir",
        "-p",
        "proxy",
    ];
    run_within(cargo().args(release), BUILD_DEADLINE);
    let deb = ["deb", "-p", "pop3host", "--no-build", "--output"];
    let built = run_within(cargo().args(deb).arg(dir), BUILD_DEADLINE);
    PathBuf::from(
        built
            .lines()
            .last()
            .expect("cargo deb prints the package")
            .trim(),
    )
}

#[test]
fn the_debian_package_serves_mail_from_its_unpacked_tree() {
    let dir = TempDir::new("package");
    let deb = build_package(&dir);
    let info = run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert!(info.contains("Package: pop3host"), "{info}");
    let root = dir.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    for file in [
        "usr/sbin/pop3host",
        "usr/lib/pop3host/libmaildir.so",
        "usr/lib/pop3host/libproxy.so",
        "usr/lib/pop3host/libstatic_messages.so",
        "usr/lib/systemd/system/pop3host.service",
        "usr/lib/systemd/system/pop3host.socket",
        "etc/pop3host/config.json",
    ] {
        assert!(root.join(file).is_file(), "{file} in the package");
    }
    let conffiles = run(Command::new("dpkg-deb")
        .arg("--info")
        .arg(&deb)
        .arg("conffiles"));
    assert_eq!(
        conffiles.trim(),
        "/etc/pop3host/config.json",
        "kept on upgrades"
    );

    let binary = root.join("usr/sbin/pop3host");
    // The shipped configuration is valid as it stands (the plugin is swapped for the test
    // mailbox, which needs no passwd-file).
    let config = root.join("etc/pop3host/config.json");
    run(Command::new(&binary).arg("--config").arg(&config).args([
        "--plugin",
        "static_messages",
        "--plugin-config",
        "null",
        "--check-config",
    ]));
    // The plugin by name, from ../lib/pop3host.
    let server = Server::try_start_binary(&binary, &["--plugin", "static_messages"])
        .unwrap_or_else(|log| panic!("the unpacked pop3host did not start:\n{log}"));
    assert!(server
        .log()
        .contains("/usr/lib/pop3host/libstatic_messages.so"));
    let mut c = server.client();
    c.login("test", "test");
    assert!(c.cmd("RETR 1").starts_with("+OK"));
    assert!(!c.body().is_empty());
    assert!(c.cmd("QUIT").starts_with("+OK"));
}
