//! A call into a library that cannot be interrupted (PAM; a database client whose server
//! stopped answering) on a thread of its own, waited for until a deadline: the login answers
//! by then whatever the call does, and the thread ends when the call returns. What bounds the
//! threads still running is the caller's (PAM's slots, a pool's size).

use std::fmt;
use std::sync::mpsc;
use std::time::Instant;

/// Why a call gave no answer.
#[derive(Debug)]
pub enum Unanswered {
    /// The deadline passed first.
    Late,
    /// No thread could be started.
    NoThread(std::io::Error),
    /// The call ended without an answer (it panicked).
    Ended,
}

impl fmt::Display for Unanswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Late => write!(f, "no answer by the deadline"),
            Self::NoThread(err) => write!(f, "cannot start a thread: {err}"),
            Self::Ended => write!(f, "ended without an answer"),
        }
    }
}

/// Runs `call` on a thread named `name` and returns its answer, if it comes by `deadline`.
pub fn within<T: Send + 'static>(
    name: &str,
    deadline: Instant,
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unanswered> {
    let (sender, answer) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = sender.send(call());
        })
        .map_err(Unanswered::NoThread)?;
    let left = deadline.saturating_duration_since(Instant::now());
    answer.recv_timeout(left).map_err(|err| match err {
        mpsc::RecvTimeoutError::Timeout => Unanswered::Late,
        mpsc::RecvTimeoutError::Disconnected => Unanswered::Ended,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_answer_in_time_a_late_one_and_a_panic() {
        let soon = || Instant::now() + Duration::from_millis(200);
        assert_eq!(within("quick", soon(), || 7).unwrap(), 7);
        let started = Instant::now();
        let late = within("slow", soon(), || {
            std::thread::sleep(Duration::from_secs(2))
        });
        assert!(matches!(late, Err(Unanswered::Late)), "{late:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
        // A panic's report may take a while (a backtrace): the answer is "ended", not "late".
        let later = Instant::now() + Duration::from_secs(30);
        let ended = within("panics", later, || -> u8 { panic!("on purpose") });
        assert!(matches!(ended, Err(Unanswered::Ended)), "{ended:?}");
    }
}
