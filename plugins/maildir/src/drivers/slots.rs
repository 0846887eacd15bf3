//! A bound on the calls to an outside source (a program, PAM) going on at once, so that a
//! slow source cannot take every thread of the host's blocking pool.

use pop3_plugin_api::debug;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// A counting semaphore: how many calls to an outside source may go on at once.
pub struct Slots {
    total: u32,
    free: Mutex<u32>,
    freed: Condvar,
}

/// One call's place; freed when dropped (also on a thread that outlives the call's wait).
pub struct Slot(Arc<Slots>);

impl Slots {
    pub fn total(&self) -> u32 {
        self.total
    }

    pub fn new(total: u32) -> Self {
        Self {
            total,
            free: Mutex::new(total),
            freed: Condvar::new(),
        }
    }

    /// A place, waiting for one until `deadline`; `what` names the places in the log.
    pub fn take(self: &Arc<Self>, deadline: Instant, what: &str) -> Option<Slot> {
        let free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if *free == 0 {
            debug!("all {} {what} busy, waiting for one", self.total);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let (mut free, _) = self
            .freed
            .wait_timeout_while(free, left, |free| *free == 0)
            .unwrap_or_else(|p| p.into_inner());
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(Slot(Arc::clone(self)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn slots_bound_the_runs_and_come_back() {
        let slots = Arc::new(Slots::new(2));
        let soon = || Instant::now() + Duration::from_millis(20);
        let a = slots.take(soon(), "runs").unwrap();
        let _b = slots.take(soon(), "runs").unwrap();
        assert!(
            slots.take(soon(), "runs").is_none(),
            "a third waits and gives up"
        );
        drop(a);
        assert!(slots.take(soon(), "runs").is_some());
    }
}
