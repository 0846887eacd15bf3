//! The `checkpassword` passdb: qmail's checkpassword interface, which Dovecot, Courier and
//! many sites' own scripts speak. The program gets `user\0password\0timestamp\0` on file
//! descriptor 3 and answers with its exit status: 0 the password is right, 1 it is not (or
//! the user is unknown: the program decides what that costs), 111 a temporary failure.
//!
//! A program is an outside process that can hang or flood: each run has a deadline, after
//! which its whole process group is killed, and at most `max_running` run at once, so a slow
//! program cannot take every thread of the host's pool. The program sees nothing of
//! pop3host but the input (no other descriptors, a fixed environment), and its output goes
//! to /dev/null: a script that echoes its input cannot put a password in the log.

use super::slots::Slots;
use super::PassDb;
use nix::spawn::{posix_spawn, PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use pop3_plugin_api::{Connection, PopError};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{kill_process_group, pidfd_open, PidfdFlags};
use serde::Deserialize;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `{"driver": "checkpassword", "program": ..., "timeout_seconds": 5, "max_running": 4}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub program: PathBuf,
    #[serde(default = "default_timeout")]
    #[serde(deserialize_with = "super::timeout::capped")]
    pub timeout_seconds: u32,
    #[serde(default = "default_max_running")]
    pub max_running: u32,
}

fn default_timeout() -> u32 {
    5
}

fn default_max_running() -> u32 {
    4
}

/// What qmail-popup sends at most; the interface's programs expect no more.
const MAX_INPUT: usize = 512;

/// The program's first argument: what a checkpassword program runs after a success.
const ON_SUCCESS: &str = "/bin/true";

/// The exit status for a temporary failure.
const TEMPORARY_FAILURE: i32 = 111;

pub struct Checkpassword {
    program: CString,
    timeout: Duration,
    slots: Arc<Slots>,
}

impl Checkpassword {
    /// Checks the settings and that the program is an executable file.
    pub fn new(settings: &Settings) -> Result<Self, PopError> {
        let bad =
            |why: String| PopError::permanent(format!("maildir config key \"passdb\": {why}"));
        let program = &settings.program;
        if !program.is_absolute() {
            return Err(bad(format!(
                "\"program\" {} must be an absolute path",
                program.display()
            )));
        }
        let meta = std::fs::metadata(program)
            .map_err(|err| bad(format!("\"program\" {}: {err}", program.display())))?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(bad(format!(
                "\"program\" {} is not an executable file",
                program.display()
            )));
        }
        if settings.timeout_seconds == 0 || settings.max_running == 0 {
            return Err(bad(
                "\"timeout_seconds\" and \"max_running\" must be at least 1".to_string(),
            ));
        }
        Ok(Self {
            program: CString::new(program.as_os_str().as_bytes())
                .map_err(|_| bad("\"program\" contains a NUL".to_string()))?,
            timeout: Duration::from_secs(settings.timeout_seconds.into()),
            slots: Arc::new(Slots::new(settings.max_running)),
        })
    }

    fn name(&self) -> std::borrow::Cow<'_, str> {
        self.program.to_string_lossy()
    }

    /// Runs the program on `input` until it exits or `deadline` passes.
    fn run(&self, input: &[u8], env: &[CString], deadline: Instant) -> Result<i32, String> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|err| format!("pipe: {err}"))?;
        let pid = self
            .spawn(read.as_raw_fd(), env)
            .map_err(|err| format!("cannot run {}: {err}", self.name()))?;
        drop(read);
        // At most MAX_INPUT octets, less than any pipe holds: the write cannot block. A
        // program that exits without reading makes it fail, which its exit status explains.
        let _ = std::fs::File::from(write).write_all(input);
        let waited = wait_until(pid, deadline);
        if !matches!(waited, Ok(true)) {
            // Past the deadline, or it cannot be watched: the whole group goes, so that a
            // script's children die with it and nothing is left unreaped.
            if let Some(group) = rustix::process::Pid::from_raw(pid.as_raw()) {
                let _ = kill_process_group(group, rustix::process::Signal::KILL);
            }
        }
        let status = waitpid(pid, None).map_err(|err| format!("waiting: {err}"))?;
        match (waited, status) {
            (Err(err), _) => Err(format!("cannot watch {}: {err}", self.name())),
            (Ok(false), _) => Err(format!(
                "{} ran past {}s and was killed",
                self.name(),
                self.timeout.as_secs()
            )),
            (_, WaitStatus::Exited(_, code)) => Ok(code),
            (_, WaitStatus::Signaled(_, signal, _)) => {
                Err(format!("{} was killed by {signal}", self.name()))
            }
            (_, other) => Err(format!("{} ended as {other:?}", self.name())),
        }
    }

    /// Starts the program in a process group of its own, with the pipe's reading end as
    /// descriptor 3, /dev/null for the standard ones, default signal handling and `env`.
    fn spawn(&self, input_fd: i32, env: &[CString]) -> std::io::Result<Pid> {
        let null = std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/null")?;
        let mut actions = PosixSpawnFileActions::init()?;
        for standard in 0..3 {
            actions.add_dup2(null.as_raw_fd(), standard)?;
        }
        actions.add_dup2(input_fd, 3)?;
        let mut attr = PosixSpawnAttr::init()?;
        attr.set_pgroup(Pid::from_raw(0))?;
        // pop3host ignores SIGPIPE; an ignored signal would stay ignored in the program.
        let mut pipe = SigSet::empty();
        pipe.add(Signal::SIGPIPE);
        attr.set_sigdefault(&pipe)?;
        attr.set_sigmask(&SigSet::empty())?;
        attr.set_flags(
            PosixSpawnFlags::POSIX_SPAWN_SETPGROUP
                | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF
                | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK,
        )?;
        let on_success = CString::new(ON_SUCCESS).expect("no NUL");
        let args = [self.program.clone(), on_success];
        Ok(posix_spawn(
            self.program.as_c_str(),
            &actions,
            &attr,
            &args,
            env,
        )?)
    }
}

/// Waits until `pid` exits (true) or `deadline` passes (false), without reaping it.
fn wait_until(pid: Pid, deadline: Instant) -> std::io::Result<bool> {
    let pid = rustix::process::Pid::from_raw(pid.as_raw())
        .ok_or_else(|| std::io::Error::other("no pid"))?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = Timespec::try_from(left).map_err(std::io::Error::other)?;
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

/// The environment Dovecot gives a checkpassword program, and a PATH.
fn environment(conn: &Connection) -> Vec<CString> {
    [
        "PATH=/usr/local/bin:/usr/bin:/bin".to_string(),
        "SERVICE=pop3".to_string(),
        format!("TCPREMOTEIP={}", conn.peer.ip()),
        format!("TCPREMOTEPORT={}", conn.peer.port()),
        format!("TCPLOCALIP={}", conn.local.ip()),
        format!("TCPLOCALPORT={}", conn.local.port()),
    ]
    .into_iter()
    .filter_map(|var| CString::new(var).ok())
    .collect()
}

impl PassDb for Checkpassword {
    fn verify(&self, login: &str, password: &str, conn: &Connection) -> Result<String, PopError> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let input = format!("{login}\0{password}\0{timestamp}\0");
        if login.contains('\0') || password.contains('\0') || input.len() > MAX_INPUT {
            return Err(PopError::auth(format!(
                "login {login:?}: user and password too long or with a NUL for checkpassword"
            )));
        }
        let deadline = Instant::now() + self.timeout;
        let Some(_slot) = self.slots.take(deadline, "checkpassword runs") else {
            return Err(PopError::temporary(format!(
                "login {login:?}: no free checkpassword run within {}s",
                self.timeout.as_secs()
            )));
        };
        match self.run(input.as_bytes(), &environment(conn), deadline) {
            Ok(0) => Ok(login.to_string()),
            Ok(1) => Err(PopError::auth(format!(
                "checkpassword refused {login:?} (wrong password or unknown user)"
            ))),
            Ok(TEMPORARY_FAILURE) => Err(PopError::temporary(format!(
                "login {login:?}: {} reports a temporary failure (exit 111)",
                self.name()
            ))),
            Ok(code) => Err(PopError::temporary(format!(
                "login {login:?}: {} exited with {code}",
                self.name()
            ))),
            Err(err) => Err(PopError::temporary(format!("login {login:?}: {err}"))),
        }
    }

    fn describe(&self) -> String {
        format!(
            "checkpassword {} (timeout {}s, at most {} at once)",
            self.name(),
            self.timeout.as_secs(),
            self.slots.total()
        )
    }
}
