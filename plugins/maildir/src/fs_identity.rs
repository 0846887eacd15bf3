//! Whose rights a user's file operations run with, as Dovecot does with the passwd-file's uid
//! and gid.
//!
//! When pop3host may switch (it holds CAP_SETUID and CAP_SETGID, as root does), every file
//! operation of a user's session runs with that user's filesystem uid and gid and no other
//! groups, so the kernel refuses whatever the mail user could not read or write themselves:
//! a hard link to `/etc/shadow` in their maildir is as unreadable to pop3host as to them.
//! Linux keeps these ids per thread (`setfsuid`, `setfsgid`, and the raw `setgroups` call that
//! rustix makes, unlike glibc's process-wide one), and the host may run each backend call on
//! another thread of its pool, so the switch is made around each call and undone by a guard,
//! also on an early return or a panic. Switching the fs ids leaves the thread's other
//! capabilities alone, which the restore needs. A reader whose open is deferred to its first
//! read ([`crate::deferred_open`]) switches around that open the same way, on whichever thread
//! reads it.
//!
//! Not cached per thread (skipping the switch when the thread already has the identity): the
//! guard puts the thread back after every call, so a pool thread never carries one session's
//! rights into another's call or into the host's own work; keeping them would save about 1%
//! of a RETR's CPU (`perf`: the credential updates of one switch per message) for that risk.
//!
//! When pop3host cannot switch, a maildir owned by someone else is refused (see
//! [`Identity::check_store`]) unless the configuration says all maildirs belong to one mail
//! user who cannot write into them behind pop3host's back (`virtual_users`).

use crate::config::FirstValidIds;
use crate::fs_at::Dir;
use nix::unistd::{setfsgid, setfsuid, Gid, Uid};
use rustix::thread::{capabilities, CapabilitySet};
use std::io;

/// Whether this process may take on another user's file rights.
pub fn can_switch() -> bool {
    capabilities(None).is_ok_and(|sets| {
        sets.effective
            .contains(CapabilitySet::SETUID | CapabilitySet::SETGID)
    })
}

/// The rights one session's file operations run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// pop3host's own.
    Own,
    /// The mail user's filesystem uid and gid.
    User { uid: u32, gid: u32 },
}

impl Identity {
    /// The identity to serve a user with `uid`/`gid` from the userdb (when it gives them),
    /// given whether this process can switch. Ids below `first_valid` are refused (why, in
    /// the `Err`) whether or not it can: served as pop3host's own when it cannot, they would
    /// become another's rights the day it runs as root. Switching to its own uid changes
    /// nothing.
    pub fn for_user(
        ids: Option<(u32, u32)>,
        switch: bool,
        first_valid: FirstValidIds,
    ) -> Result<Self, String> {
        let Some((uid, gid)) = ids else {
            return Ok(Self::Own);
        };
        if uid < first_valid.uid {
            return Err(format!(
                "uid {uid} is below first_valid_uid {}",
                first_valid.uid
            ));
        }
        if gid < first_valid.gid {
            return Err(format!(
                "gid {gid} is below first_valid_gid {}",
                first_valid.gid
            ));
        }
        Ok(if switch && uid != Uid::effective().as_raw() {
            Self::User { uid, gid }
        } else {
            Self::Own
        })
    }

    /// Takes on this identity on the calling thread until the guard is dropped.
    pub fn enter(self) -> io::Result<FsIdGuard> {
        let Self::User { uid, gid } = self else {
            return Ok(FsIdGuard { saved: None });
        };
        // rustix's raw `getgroups`, not nix's: that one asks `sysconf(_SC_NGROUPS_MAX)` first,
        // which glibc answers by opening and reading /proc/sys/kernel/ngroups_max, three system
        // calls and a procfs open more on every call (a RETR makes one, `strace -f`).
        let groups = rustix::process::getgroups()?;
        rustix::thread::set_thread_groups(&[rustix::fs::Gid::from_raw(gid)])?;
        let old_gid = setfsgid(Gid::from_raw(gid));
        let old_uid = setfsuid(Uid::from_raw(uid));
        let guard = FsIdGuard {
            saved: Some(Saved {
                uid: old_uid,
                gid: old_gid,
                groups,
            }),
        };
        // setfsuid reports no failure; asking again returns the id now in force.
        if setfsuid(Uid::from_raw(uid)).as_raw() != uid
            || setfsgid(Gid::from_raw(gid)).as_raw() != gid
        {
            return Err(io::Error::other(format!(
                "cannot switch to uid {uid} gid {gid}"
            )));
        }
        Ok(guard)
    }

    /// Refuses (the inner `Err`), when serving with pop3host's own rights, a maildir whose
    /// open `root` is owned by another uid: its owner could make pop3host read or write what
    /// they themselves cannot. The outer `Err`: the owner could not be read.
    pub fn check_store(self, root: &Dir, virtual_users: bool) -> io::Result<Result<(), String>> {
        Ok(self.check_owner(root.owner()?, virtual_users))
    }

    fn check_owner(self, owner: u32, virtual_users: bool) -> Result<(), String> {
        let own = Uid::effective().as_raw();
        if self != Self::Own || virtual_users || owner == own {
            return Ok(());
        }
        Err(format!(
            "owned by uid {owner}, not by pop3host's uid {own}, and pop3host cannot switch to \
             the user's uid (run it as root, or set \"virtual_users\" if no user can write into \
             the maildirs)"
        ))
    }
}

#[derive(Debug)]
struct Saved {
    uid: Uid,
    gid: Gid,
    groups: Vec<rustix::fs::Gid>,
}

/// Restores the thread's fs ids and groups when dropped.
#[derive(Debug)]
#[must_use = "the identity lasts as long as the guard"]
pub struct FsIdGuard {
    saved: Option<Saved>,
}

impl Drop for FsIdGuard {
    fn drop(&mut self) {
        let Some(saved) = self.saved.take() else {
            return;
        };
        setfsuid(saved.uid);
        setfsgid(saved.gid);
        if let Err(err) = rustix::thread::set_thread_groups(&saved.groups) {
            // The thread keeps only the mail user's group: less than it had, never more.
            pop3_plugin_api::error!("cannot restore the thread's groups: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_identity_checks_the_owner_unless_virtual() {
        let own = Uid::effective().as_raw();
        assert!(Identity::Own.check_owner(own, false).is_ok());
        let err = Identity::Own.check_owner(own + 1, false).unwrap_err();
        assert!(err.contains(&format!("uid {}", own + 1)), "{err}");
        assert!(Identity::Own.check_owner(own + 1, true).is_ok());
        let user = Identity::User {
            uid: 65534,
            gid: 65534,
        };
        assert!(user.check_owner(own + 1, false).is_ok());
    }

    #[test]
    fn only_a_foreign_uid_with_the_right_to_switch_switches() {
        let own = Uid::effective().as_raw();
        let any = FirstValidIds { uid: 0, gid: 0 };
        let for_user = |ids, switch| Identity::for_user(ids, switch, any).unwrap();
        assert_eq!(for_user(None, true), Identity::Own);
        assert_eq!(for_user(Some((own, 1)), true), Identity::Own);
        assert_eq!(for_user(Some((own + 1, 7)), false), Identity::Own);
        assert_eq!(
            for_user(Some((own + 1, 7)), true),
            Identity::User {
                uid: own + 1,
                gid: 7
            }
        );
    }

    #[test]
    fn ids_below_the_first_valid_are_refused_switching_or_not() {
        let first_valid = FirstValidIds { uid: 500, gid: 1 };
        for switch in [true, false] {
            let refusal = |ids| Identity::for_user(Some(ids), switch, first_valid).unwrap_err();
            assert_eq!(refusal((0, 0)), "uid 0 is below first_valid_uid 500");
            assert_eq!(refusal((499, 1000)), "uid 499 is below first_valid_uid 500");
            assert_eq!(refusal((500, 0)), "gid 0 is below first_valid_gid 1");
            assert!(Identity::for_user(Some((500, 1)), switch, first_valid).is_ok());
            assert_eq!(
                Identity::for_user(None, switch, first_valid),
                Ok(Identity::Own)
            );
        }
    }

    #[test]
    fn a_switch_is_undone_by_the_guard() {
        if !can_switch() {
            return; // needs root; the end-to-end tests cover the refusal without it
        }
        let before = (
            setfsuid(Uid::from_raw(u32::MAX)),
            nix::unistd::getgroups().unwrap(),
        );
        {
            let _guard = Identity::User {
                uid: 65534,
                gid: 65534,
            }
            .enter()
            .unwrap();
            assert_eq!(setfsuid(Uid::from_raw(u32::MAX)).as_raw(), 65534);
            assert_eq!(nix::unistd::getgroups().unwrap(), [Gid::from_raw(65534)]);
        }
        let after = (
            setfsuid(Uid::from_raw(u32::MAX)),
            nix::unistd::getgroups().unwrap(),
        );
        assert_eq!(before, after);
    }
}
