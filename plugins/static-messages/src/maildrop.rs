//! A user's maildrop as all sessions share it: the messages, the session lock, and the
//! deletions. There is no store to write deletions to, so they last for the life of the
//! process, which is what a client test of "leave on server" or "delete after download" needs.

use crate::config::Account;
use crate::messages::Message;
use pop3_plugin_api::PopError;
use std::collections::HashSet;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub struct Maildrop {
    pub account: Account,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Whether a session holds the maildrop (RFC 1939 §4: the maildrop is locked at login).
    locked: bool,
    deleted: HashSet<String>,
}

impl Maildrop {
    pub fn new(account: Account) -> Self {
        Self {
            account,
            state: Mutex::default(),
        }
    }

    /// The state. Every change to it is a single assignment or insert, so it is consistent
    /// even after a panic poisoned the mutex.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session lock, or `None` while another session holds it. A maildrop that is not
    /// exclusive gives every session a lock that holds nothing.
    pub fn try_lock(self: &Arc<Self>) -> Option<Lock> {
        let mut state = self.state();
        let exclusive = self.account.exclusive;
        if exclusive && state.locked {
            return None;
        }
        state.locked |= exclusive;
        Some(Lock {
            maildrop: Arc::clone(self),
            held: exclusive,
        })
    }

    /// The messages not deleted, in maildrop order.
    pub fn remaining(&self) -> Vec<&Message> {
        let state = self.state();
        self.account
            .messages
            .iter()
            .filter(|m| !state.deleted.contains(&m.id))
            .collect()
    }

    /// Deletes the messages `ids` for good, or none of them if an id is not in the maildrop.
    pub fn delete(&self, ids: &[&str]) -> Result<(), PopError> {
        let known = |id: &&str| self.account.messages.iter().any(|m| m.id == *id);
        let unknown: Vec<&str> = ids.iter().copied().filter(|id| !known(id)).collect();
        if !unknown.is_empty() {
            return Err(PopError::plain(format!(
                "no such messages: {}",
                unknown.join(" ")
            )));
        }
        self.state()
            .deleted
            .extend(ids.iter().map(|id| id.to_string()));
        Ok(())
    }
}

/// One session's hold on a maildrop; dropping an exclusive one lets the next session in.
pub struct Lock {
    maildrop: Arc<Maildrop>,
    held: bool,
}

impl Deref for Lock {
    type Target = Maildrop;
    fn deref(&self) -> &Maildrop {
        &self.maildrop
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if self.held {
            self.maildrop.state().locked = false;
        }
    }
}
