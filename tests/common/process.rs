//! Child processes of the tests: every wait has a deadline, and a child that has not exited
//! when the test ends (a failure, a timeout) is killed with whatever it started.

use super::DEADLINE;
use std::io::Read;
use std::ops::{Deref, DerefMut};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How long a `cargo build` started by a test may take: a cold build on a loaded machine.
pub const BUILD_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// A child in a process group of its own. Dropped before it exited, the whole group is
/// killed, so that nothing it started outlives the test.
pub struct Guarded {
    child: Child,
    exited: bool,
}

impl Guarded {
    pub fn spawn(command: &mut Command) -> Guarded {
        let child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?} does not start: {e}"));
        Guarded {
            child,
            exited: false,
        }
    }

    /// Waits for the exit; `None` if the child still runs after `deadline`.
    pub fn wait_within(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waits for the child") {
                self.exited = true;
                return Some(status);
            }
            if started.elapsed() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the exit; fails the test if the child still runs after `deadline`.
    pub fn wait(&mut self, deadline: Duration) -> ExitStatus {
        self.wait_within(deadline)
            .unwrap_or_else(|| panic!("a child still runs after {deadline:?}"))
    }
}

impl Deref for Guarded {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl DerefMut for Guarded {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if self.exited {
            return;
        }
        // The group first, while the leader (not yet reaped) keeps its id from reuse.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `command.output()` with a deadline: stdin empty, stdout and stderr captured. Fails the test
/// (and kills the child's process group) if it runs longer than `deadline`.
pub fn output_within(command: &mut Command, deadline: Duration) -> Output {
    let started = Instant::now();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Guarded::spawn(command);
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let status = child
        .wait_within(deadline)
        .unwrap_or_else(|| panic!("{command:?} still runs after {deadline:?}"));
    // A process it left behind may hold the pipes open: bounded too.
    let left = deadline.saturating_sub(started.elapsed()) + Duration::from_secs(1);
    let collect = |pipe: Receiver<Vec<u8>>| {
        pipe.recv_timeout(left)
            .unwrap_or_else(|_| panic!("{command:?} exited, its output did not end"))
    };
    Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

/// [`output_within`] the usual [`DEADLINE`].
pub fn output(command: &mut Command) -> Output {
    output_within(command, DEADLINE)
}

/// Runs `command` and fails the test unless it succeeds within [`DEADLINE`]; returns stdout.
pub fn run(command: &mut Command) -> String {
    run_within(command, DEADLINE)
}

/// [`run`] with its own deadline.
pub fn run_within(command: &mut Command, deadline: Duration) -> String {
    let output = output_within(command, deadline);
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Reads a pipe to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = send.send(bytes);
    });
    receive
}
