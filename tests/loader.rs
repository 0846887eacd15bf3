//! Loading plugins: every failure is a clear line and a non-zero exit; --describe.

mod common;

use common::{plugin, pop3host, Server, TempDir};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    common::process::output(Command::new(pop3host()).args(args).env_remove("RUST_LOG"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn describe_prints_the_plugin_as_json() {
    let output = run(&["--plugin", "static_messages", "--describe"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(json["name"], "static-messages");
    assert_eq!(json["abi_major"], 1);
    assert!(json["config_help"].as_str().unwrap().contains("users"));
    assert!(json["path"]
        .as_str()
        .unwrap()
        .ends_with("libstatic_messages.so"));
}

#[test]
fn a_missing_file_is_named() {
    let output = run(&["--plugin", "/nonexistent/libnothing.so"]);
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output).trim(),
        "pop3host: plugin /nonexistent/libnothing.so: no such file"
    );
    let output = run(&["--plugin", "nothing", "--plugin-dir", "/nonexistent"]);
    assert!(
        stderr(&output).contains("no libnothing.so in "),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_library_that_is_no_plugin_is_refused() {
    let libc = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("libc.so.6 on this machine");
    let output = run(&["--plugin", libc]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("it is not a pop3host plugin"),
        "{}",
        stderr(&output)
    );
    let dir = TempDir::new("loader-garbage");
    let not_elf = dir.join("libgarbage.so");
    std::fs::write(&not_elf, b"not a library").unwrap();
    let output = run(&["--plugin", not_elf.to_str().unwrap()]);
    assert!(
        stderr(&output).contains("cannot load it"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_plugin_for_another_abi_is_refused_with_both_versions() {
    let dir = TempDir::new("loader-abi2");
    let source = dir.join("abi2.c");
    std::fs::write(
        &source,
        "unsigned pop3host_plugin_abi_major(void) { return 2; }\n",
    )
    .unwrap();
    let library = dir.join("libabi2.so");
    common::process::run(
        Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&library)
            .arg(&source),
    );
    let output = run(&["--plugin", library.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("built for plugin ABI 2, but this pop3host speaks ABI 1"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn init_failure_stops_startup_with_the_plugins_message() {
    let config =
        r#"{"users": {}, "faults": [{"callback": "init", "action": "error", "code": "SYS/PERM"}]}"#;
    let path = plugin("static_messages");
    let log = Server::start_fails(&[
        "--plugin",
        path.to_str().unwrap(),
        "--plugin-config",
        config,
    ]);
    assert!(log.contains("init failed"), "{log}");
    let log = Server::start_fails(&[
        "--plugin",
        path.to_str().unwrap(),
        "--plugin-config",
        r#"{"users": 5}"#,
    ]);
    assert!(
        log.contains("init failed") && log.contains("users"),
        "{log}"
    );
}

#[test]
fn a_panic_in_init_is_a_startup_error() {
    let config = r#"{"users": {}, "faults": [{"callback": "init", "action": "panic"}]}"#;
    let path = plugin("static_messages");
    let log = Server::start_fails(&[
        "--plugin",
        path.to_str().unwrap(),
        "--plugin-config",
        config,
    ]);
    assert!(
        log.contains("init failed") && log.contains("panicked"),
        "{log}"
    );
}

#[test]
fn a_busy_port_is_a_clear_startup_error() {
    let server = Server::with_static(None, &[]);
    let addr = server.addr.to_string();
    let output = run(&["--plugin", "static_messages", "--listen", &addr]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains(&format!("cannot listen on {addr}")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_settings_name_the_flag() {
    let output = run(&["--plugin", "static_messages", "--plugin-config", "{oops"]);
    assert!(
        stderr(&output).contains("--plugin-config: not valid JSON"),
        "{}",
        stderr(&output)
    );
    let output = run(&["--plugin", "static_messages", "--listen", "nowhere"]);
    assert!(
        stderr(&output).contains("--listen nowhere"),
        "{}",
        stderr(&output)
    );
}

/// Servers of one user share the directory of private copies: one cleaning up its old copies
/// must not remove another's between that one's copy and its load.
#[test]
fn servers_starting_at_once_all_load_their_plugin() {
    use std::os::unix::fs::PermissionsExt;
    let copies = TempDir::new("copies");
    std::fs::set_permissions(&*copies, std::fs::Permissions::from_mode(0o700)).unwrap();
    let plugin = plugin("static_messages");
    for _ in 0..5 {
        let started: Vec<_> = (0..12)
            .map(|_| {
                let mut command = Command::new(pop3host());
                command
                    .args(["--plugin", plugin.to_str().unwrap(), "--describe"])
                    .env("RUNTIME_DIRECTORY", &*copies)
                    .env_remove("RUST_LOG");
                std::thread::spawn(move || common::process::output(&mut command))
            })
            .collect();
        for output in started.into_iter().map(|s| s.join().unwrap()) {
            assert!(output.status.success(), "{}", stderr(&output));
        }
    }
}
