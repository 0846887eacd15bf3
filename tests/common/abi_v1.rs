//! The frozen ABI v1 fixture (`tests/fixtures/abi-v1`, see its README): its plugin and its
//! host, built from its own workspace with its locked dependencies, and that host (a pop3host
//! 1.0 as far as loading plugins goes) driven over pipes, one command and one answer at a
//! time.

use super::{bin_dir, cargo_build, DEADLINE};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/abi-v1")
}

/// `<main target dir>/abi-v1-fixture`: beside the main build, wherever CARGO_TARGET_DIR put
/// it, but its own directory, since the fixture is another workspace with another lock.
pub fn fixture_target_dir() -> PathBuf {
    bin_dir()
        .parent()
        .expect("the target dir holds the profile dir")
        .join("abi-v1-fixture")
}

pub fn profile() -> &'static str {
    if bin_dir().ends_with("release") {
        "release"
    } else {
        "debug"
    }
}

/// Builds the workspace at `dir` (the fixture or a mutant of it) with the locked
/// dependencies, into the fixture's target dir.
pub fn build_fixture(dir: &Path) {
    let manifest = dir.join("Cargo.toml");
    cargo_build([
        "--locked".as_ref(),
        "--manifest-path".as_ref(),
        manifest.as_os_str(),
        "--target-dir".as_ref(),
        fixture_target_dir().as_os_str(),
    ]);
}

/// Where the fixture's artifacts are, once it is built (once per test binary).
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_fixture(&fixture_dir());
        fixture_target_dir().join(profile())
    })
}

/// The plugin built against the frozen pop3_plugin_api 1.0.0.
pub fn fixture_plugin() -> PathBuf {
    built().join("libabi_v1_fixture.so")
}

/// The host built against it: `abi-v1-host`.
pub fn fixture_host() -> PathBuf {
    built().join("abi-v1-host")
}

/// `abi-v1-host` on one plugin library; killed when dropped. Its commands and answers are
/// documented in `tests/fixtures/abi-v1/host/src/driver.rs`.
pub struct V1Host {
    child: Child,
    stdin: Option<ChildStdin>,
    answers: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl V1Host {
    pub fn start(plugin: &Path) -> V1Host {
        let mut child = Command::new(fixture_host())
            .arg(plugin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("abi-v1-host starts");
        let (send, answers) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut pipe, sink) = (
            child.stderr.take().expect("stderr is piped"),
            stderr.clone(),
        );
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        V1Host {
            stdin: child.stdin.take(),
            child,
            answers,
            stderr,
        }
    }

    /// Sends one command and returns its answer line (`ok ...` or `err CODE "..."`).
    pub fn call(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().expect("not finished");
        if let Err(why) = writeln!(stdin, "{command}") {
            panic!(
                "{command}: abi-v1-host took no command ({why}); stderr:\n{}",
                self.stderr()
            );
        }
        self.answers.recv_timeout(DEADLINE).unwrap_or_else(|why| {
            panic!("{command}: no answer ({why}); stderr:\n{}", self.stderr())
        })
    }

    /// Sends a command that must succeed; returns what follows `ok` (empty for nothing).
    pub fn ok(&mut self, command: &str) -> String {
        let answer = self.call(command);
        match answer.strip_prefix("ok") {
            Some(value) if value.is_empty() || value.starts_with(' ') => {
                value.trim_start().to_string()
            }
            _ => panic!("{command}: {answer}"),
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Ends the script and waits for a clean exit: everything the plugin made was dropped
    /// without a crash.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < DEADLINE, "abi-v1-host did not exit");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(status.success(), "abi-v1-host: {status}\n{}", self.stderr());
    }
}

impl Drop for V1Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
