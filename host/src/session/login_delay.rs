//! LOGIN-DELAY enforcement (RFC 2449 §6.8): the host, not each backend, remembers when a user
//! last logged in and refuses a login that comes too soon. In memory: a restart forgets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct LoginTracker {
    last: Mutex<HashMap<String, (Instant, Duration)>>,
}

/// Past this many users, entries whose delay has passed are dropped.
const PRUNE_ABOVE: usize = 10_000;

impl LoginTracker {
    /// Records a login of `user` at `now` unless the previous one was less than `delay` ago;
    /// then returns how long the user still has to wait.
    pub fn admit(&self, user: &str, delay: Duration, now: Instant) -> Result<(), Duration> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(&(at, _)) = last.get(user) {
            let since = now.saturating_duration_since(at);
            if since < delay {
                return Err(delay - since);
            }
        }
        if last.len() >= PRUNE_ABOVE {
            last.retain(|_, &mut (at, delay)| now.saturating_duration_since(at) < delay);
        }
        last.insert(user.to_string(), (now, delay));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_login_within_the_delay_is_refused() {
        let tracker = LoginTracker::default();
        let t0 = Instant::now();
        let delay = Duration::from_secs(60);
        assert_eq!(tracker.admit("alice", delay, t0), Ok(()));
        assert_eq!(
            tracker.admit("alice", delay, t0 + Duration::from_secs(20)),
            Err(Duration::from_secs(40))
        );
        assert_eq!(
            tracker.admit("bob", delay, t0 + Duration::from_secs(20)),
            Ok(())
        );
        assert_eq!(
            tracker.admit("alice", delay, t0 + Duration::from_secs(60)),
            Ok(())
        );
    }

    #[test]
    fn old_entries_are_pruned() {
        let tracker = LoginTracker::default();
        let t0 = Instant::now();
        for i in 0..PRUNE_ABOVE {
            tracker
                .admit(&format!("u{i}"), Duration::from_secs(1), t0)
                .unwrap();
        }
        tracker
            .admit("late", Duration::from_secs(1), t0 + Duration::from_secs(2))
            .unwrap();
        assert_eq!(tracker.last.lock().unwrap().len(), 1);
    }
}
