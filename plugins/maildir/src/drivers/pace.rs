//! The timing rule for every `[AUTH]` refusal of a source that answers "no such user" sooner
//! than "wrong password" (PAM modules, directories, databases): a refusal, of an unknown user
//! or of a wrong password alike, is held back until it has taken the same target time, so
//! that the time to answer tells no user names.
//!
//! The target is the slowest of the last [`REMEMBERED`] checks of known users (lookup and
//! verification, accepted or refused), never less than [`FLOOR`] (so that just after start,
//! with nothing remembered, an unknown user does not answer sooner than a wrong password that
//! pays for its hash) and never more than the source's timeout (so that one slow moment
//! cannot hold refusals longer than a lookup may take). A wrong password is recorded first,
//! then waits to the target like an unknown user: both answers are drawn from one rule,
//! rather than an unknown user waiting for the slowest and a wrong password answering at its
//! own typical time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many known users' checks the rule remembers: a single slow moment is forgotten
/// after this many logins.
const REMEMBERED: usize = 32;

/// The least time a refusal takes: more than a usual hash check (SHA-crypt's default rounds,
/// bcrypt up to cost 10, Argon2's defaults), so that an empty history shows nothing.
pub const FLOOR: Duration = Duration::from_millis(200);

pub struct Pace {
    recent: Mutex<VecDeque<Duration>>,
    /// The longest a refusal is held: the source's timeout.
    cap: Duration,
}

impl Pace {
    /// The rule for a source whose lookups may take up to `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            recent: Mutex::default(),
            cap: timeout,
        }
    }

    /// Records how long a check of a known user begun at `started` took (accepted or wrong
    /// password; not one the authentication cache answered, which costs nothing).
    pub fn known(&self, started: Instant) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == REMEMBERED {
            recent.pop_front();
        }
        recent.push_back(started.elapsed());
    }

    /// Holds an `[AUTH]` refusal of a check begun at `started`, a wrong password (recorded
    /// first with [`Pace::known`]) or an unknown user, until it has taken the target time.
    pub fn refuse(&self, started: Instant) {
        std::thread::sleep(self.target().saturating_sub(started.elapsed()));
    }

    /// The slowest remembered check, within [`FLOOR`] and the cap.
    fn target(&self) -> Duration {
        let slowest = {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.iter().max().copied().unwrap_or_default()
        };
        slowest.max(FLOOR).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// How long a refusal begun now takes.
    fn refusal(pace: &Pace, known: bool) -> Duration {
        let started = Instant::now();
        if known {
            pace.known(started);
        }
        pace.refuse(started);
        started.elapsed()
    }

    #[test]
    fn with_nothing_remembered_a_refusal_takes_the_floor() {
        let pace = Pace::new(TIMEOUT);
        let unknown = refusal(&pace, false);
        assert!(
            unknown >= FLOOR && unknown < FLOOR * 3,
            "an unknown user first: {unknown:?}"
        );
        let wrong = refusal(&pace, true);
        assert!(wrong >= FLOOR && wrong < FLOOR * 3, "{wrong:?}");
    }

    #[test]
    fn a_wrong_password_and_an_unknown_user_wait_for_the_same_slowest_check() {
        let pace = Pace::new(TIMEOUT);
        let slow = Duration::from_millis(500);
        pace.known(Instant::now() - slow);
        for known in [true, false] {
            let took = refusal(&pace, known);
            assert!(took >= slow && took < slow * 2, "known {known}: {took:?}");
        }
        // After REMEMBERED quick checks the slow one is forgotten, for both.
        for _ in 0..REMEMBERED {
            pace.known(Instant::now());
        }
        for known in [true, false] {
            let took = refusal(&pace, known);
            assert!(took >= FLOOR && took < slow, "known {known}: {took:?}");
        }
    }

    #[test]
    fn a_slow_moment_holds_refusals_no_longer_than_the_timeout() {
        let cap = Duration::from_millis(300);
        let pace = Pace::new(cap);
        pace.known(Instant::now() - Duration::from_secs(60));
        let took = refusal(&pace, false);
        assert!(took >= cap && took < Duration::from_secs(2), "{took:?}");
    }
}
