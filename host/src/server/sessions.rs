//! The sessions open now, for the admin socket: `pop3host who` lists them, `pop3host kick
//! USER` ends a user's sessions. A session enters the list when its driver starts and leaves
//! it when the driver is dropped.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;
use tokio_util::sync::CancellationToken;

/// A session as `who` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: u64,
    /// `None` before login.
    pub user: Option<String>,
    pub peer: String,
    /// Unix seconds.
    pub since: u64,
    pub tls: bool,
    pub plugin: String,
    /// The SHA-256 of the plugin build serving the session.
    pub plugin_sha256: String,
}

struct Listed {
    info: SessionInfo,
    kick: CancellationToken,
}

#[derive(Default)]
pub struct OpenSessions {
    sessions: Mutex<HashMap<u64, Listed>>,
}

/// A session's place in the list, removed when dropped.
pub struct ListedSession {
    sessions: Arc<OpenSessions>,
    id: u64,
    /// Cancelled by `kick`.
    pub kicked: CancellationToken,
}

impl OpenSessions {
    pub fn enter(self: &Arc<Self>, mut info: SessionInfo) -> ListedSession {
        info.since = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let kicked = CancellationToken::new();
        let id = info.id;
        let listed = Listed {
            info,
            kick: kicked.clone(),
        };
        self.lock().insert(id, listed);
        ListedSession {
            sessions: self.clone(),
            id,
            kicked,
        }
    }

    #[cfg_attr(
        all(windows, not(test)),
        expect(dead_code, reason = "the admin socket, their caller, is Unix only")
    )]
    pub fn list(&self) -> Vec<SessionInfo> {
        let mut sessions: Vec<SessionInfo> = self.lock().values().map(|l| l.info.clone()).collect();
        sessions.sort_by_key(|s| s.id);
        sessions
    }

    /// Ends every session of `user` (as it logged in) at its next wait for the client;
    /// returns how many.
    #[cfg_attr(
        all(windows, not(test)),
        expect(dead_code, reason = "the admin socket, their caller, is Unix only")
    )]
    pub fn kick(&self, user: &str) -> usize {
        let sessions = self.lock();
        let theirs = sessions
            .values()
            .filter(|l| l.info.user.as_deref() == Some(user));
        theirs.map(|l| l.kick.cancel()).count()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Listed>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ListedSession {
    pub fn update(&self, change: impl FnOnce(&mut SessionInfo)) {
        if let Some(listed) = self.sessions.lock().get_mut(&self.id) {
            change(&mut listed.info);
        }
    }
}

impl Drop for ListedSession {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: u64) -> SessionInfo {
        SessionInfo {
            id,
            user: None,
            peer: "192.0.2.1:1000".into(),
            since: 0,
            tls: false,
            plugin: "p".into(),
            plugin_sha256: "00".into(),
        }
    }

    #[test]
    fn kick_ends_only_that_users_sessions_and_the_list_forgets_dropped_ones() {
        let sessions = Arc::new(OpenSessions::default());
        let (a, b, c) = (
            sessions.enter(info(1)),
            sessions.enter(info(2)),
            sessions.enter(info(3)),
        );
        a.update(|s| s.user = Some("alice".into()));
        b.update(|s| s.user = Some("bob".into()));
        assert_eq!(sessions.kick("alice"), 1);
        assert!(a.kicked.is_cancelled() && !b.kicked.is_cancelled() && !c.kicked.is_cancelled());
        assert_eq!(sessions.kick("carol"), 0);
        drop(b);
        let ids: Vec<u64> = sessions.list().iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 3]);
    }
}
