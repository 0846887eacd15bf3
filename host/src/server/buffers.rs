//! Message buffers reused from one RETR to the next, server-wide.
//!
//! A transfer reads its message into buffers of up to [`super::read_ahead::CHUNK`] octets.
//! Allocating one per message cost more server CPU than encoding the message: the allocator
//! hands a buffer that size back to the kernel when it is freed, so every message paid for
//! fresh zeroed pages (page faults, zeroing, unmapping) before the plugin wrote into them.
//! Here the buffers a finished transfer gives back wait for the next one, a few per CPU at
//! most (enough for the transfers running at once, not a cache that grows with the sessions):
//! so the memory held for reuse is at most [`KEPT_PER_CPU`] × CPUs × `CHUNK`, whatever the
//! number of sessions, and the bounds per session are unchanged (a buffer in use belongs to
//! one transfer or one prefetch, as before). A kept buffer more than [`LONGER_AT_MOST`] times
//! as long as a message needs waits for a longer message.

use std::sync::{LazyLock, Mutex};

/// Buffers kept for reuse per CPU.
const KEPT_PER_CPU: usize = 4;

static FREE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Buffers kept at most (asked once: the CPU count takes system calls to learn).
static KEPT: LazyLock<usize> =
    LazyLock::new(|| KEPT_PER_CPU * std::thread::available_parallelism().map_or(1, |n| n.get()));

fn free() -> std::sync::MutexGuard<'static, Vec<Vec<u8>>> {
    FREE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A buffer kept is handed out for at most this many times its length: a small message must
/// not hold (nor a prefetch be charged for) the buffer of a large one.
const LONGER_AT_MOST: usize = 4;

/// A buffer of at least `len` octets (their content is whatever an earlier message left).
pub fn take(len: usize) -> Vec<u8> {
    let reused = {
        let mut free = free();
        let longest = len.saturating_mul(LONGER_AT_MOST);
        let fits = free.iter().rposition(|buf| buf.len() <= longest);
        fits.map(|i| free.swap_remove(i))
    };
    match reused {
        Some(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            buf
        }
        None => vec![0; len],
    }
}

/// Gives `buf` back for a next transfer, unless enough are kept already.
pub fn give_back(buf: Vec<u8>) {
    if buf.is_empty() {
        return;
    }
    let mut free = free();
    if free.len() < *KEPT {
        free.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_at_least_as_long_as_asked_reused_or_not() {
        give_back(vec![7; 100]);
        for len in [10, 1000, 100] {
            let buf = take(len);
            assert!(buf.len() >= len, "{} for {len}", buf.len());
            give_back(buf);
        }
    }

    #[test]
    fn a_buffer_much_longer_than_asked_stays_for_a_longer_message() {
        give_back(vec![0; 100_000]);
        let small = take(10);
        assert!(
            (10..=10 * LONGER_AT_MOST).contains(&small.len()),
            "{}",
            small.len()
        );
    }

    #[test]
    fn the_buffers_kept_are_bounded() {
        for _ in 0..1000 {
            give_back(vec![0; 16]);
        }
        assert!(free().len() <= *KEPT);
    }
}
