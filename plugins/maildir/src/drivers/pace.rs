//! The unknown-user timing rule for sources that answer "no such user" sooner than "wrong
//! password" (PAM modules, directories, databases): an unknown user's answer is held back
//! until it has taken as long as the slowest recent answer for a known user, so that the
//! time to answer tells no user names.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many known users' answers the rule remembers: a single slow moment is forgotten
/// after this many logins.
const REMEMBERED: usize = 32;

#[derive(Default)]
pub struct Pace {
    recent: Mutex<VecDeque<Duration>>,
}

impl Pace {
    /// Records how long a check for a known user took (accepted or wrong password).
    pub fn known(&self, started: Instant) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == REMEMBERED {
            recent.pop_front();
        }
        recent.push_back(started.elapsed());
    }

    /// Waits, for a check of an unknown user begun at `started`, until it has taken as long as
    /// the slowest remembered check of a known user.
    pub fn unknown(&self, started: Instant) {
        let slowest = {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.iter().max().copied().unwrap_or_default()
        };
        std::thread::sleep(slowest.saturating_sub(started.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_user_waits_as_long_as_the_slowest_known_one() {
        let pace = Pace::default();
        let long_ago = Instant::now() - Duration::from_millis(300);
        pace.known(long_ago);
        let started = Instant::now();
        pace.unknown(started);
        assert!(started.elapsed() >= Duration::from_millis(300));
        // After REMEMBERED quick checks the slow one is forgotten.
        for _ in 0..REMEMBERED {
            pace.known(Instant::now());
        }
        let started = Instant::now();
        pace.unknown(started);
        assert!(started.elapsed() < Duration::from_millis(300));
    }
}
