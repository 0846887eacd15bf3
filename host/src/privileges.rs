//! Dropping root after startup (Net::Server's `user`, `group`, `chroot`): by then the ports
//! are bound, the plugin is loaded and initialised and the certificates are read, so the
//! server needs no privilege to go on. On Windows there is no root to drop: the account the
//! server (or its service) runs as is the privilege boundary, and the options are refused.

use crate::config::Privileges;
#[cfg(unix)]
use nix::unistd::{self, Gid, Group, Uid, User};

/// Checks the options with the rest of the configuration: `--group` and `--chroot` need
/// `--user`, or the server would keep root.
#[cfg(unix)]
pub fn validate(privileges: &Privileges) -> Result<(), String> {
    if privileges.user.is_none() && (privileges.group.is_some() || privileges.chroot.is_some()) {
        return Err("--group and --chroot need --user: the server must not keep root".into());
    }
    Ok(())
}

/// Windows: `--user`, `--group` and `--chroot` have no meaning; given, they stop the server
/// at startup rather than leave it running with more privilege than the operator asked for.
#[cfg(windows)]
pub fn validate(privileges: &Privileges) -> Result<(), String> {
    let given = [
        ("--user", privileges.user.is_some()),
        ("--group", privileges.group.is_some()),
        ("--chroot", privileges.chroot.is_some()),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((option, _)) => Err(format!(
            "{option} is not supported on Windows: run pop3host as an unprivileged account \
             instead (that account is the privilege boundary)"
        )),
        None => Ok(()),
    }
}

/// Changes root directory, groups and user, in that order (the user last, since after it
/// nothing else may be changed). Runs before any thread of the server starts.
#[cfg(unix)]
pub fn drop_root(privileges: &Privileges) -> Result<(), String> {
    let Some(user_name) = &privileges.user else {
        if Uid::effective().is_root() {
            tracing::warn!(
                "running as root: pass --user (and --group) to drop privileges after startup"
            );
        }
        return Ok(());
    };
    let user = User::from_name(user_name)
        .map_err(|e| format!("--user {user_name}: {e}"))?
        .ok_or_else(|| format!("--user {user_name}: no such user"))?;
    let gid = match &privileges.group {
        Some(name) => {
            Group::from_name(name)
                .map_err(|e| format!("--group {name}: {e}"))?
                .ok_or_else(|| format!("--group {name}: no such group"))?
                .gid
        }
        None => user.gid,
    };
    if let Some(dir) = &privileges.chroot {
        unistd::chroot(dir).map_err(|e| format!("--chroot {}: {e}", dir.display()))?;
        unistd::chdir("/").map_err(|e| format!("--chroot {}: {e}", dir.display()))?;
    }
    set_ids(gid, user.uid).map_err(|e| format!("--user {user_name}: cannot switch: {e}"))?;
    if unistd::setuid(Uid::from_raw(0)).is_ok() && !user.uid.is_root() {
        return Err(format!(
            "--user {user_name}: root could be regained after the switch"
        ));
    }
    tracing::info!(
        user = user_name,
        uid = user.uid.as_raw(),
        gid = gid.as_raw(),
        "dropped privileges"
    );
    Ok(())
}

/// Windows: nothing to drop (`validate` refused the options).
#[cfg(windows)]
pub fn drop_root(_privileges: &Privileges) -> Result<(), String> {
    Ok(())
}

#[cfg(unix)]
fn set_ids(gid: Gid, uid: Uid) -> nix::Result<()> {
    unistd::setgroups(&[gid])?;
    unistd::setgid(gid)?;
    unistd::setuid(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn privileges(user: Option<&str>, group: Option<&str>, chroot: Option<&str>) -> Privileges {
        Privileges {
            user: user.map(str::to_string),
            group: group.map(str::to_string),
            chroot: chroot.map(Into::into),
        }
    }

    #[test]
    fn no_options_are_always_valid() {
        assert_eq!(validate(&privileges(None, None, None)), Ok(()));
    }

    #[cfg(unix)]
    #[test]
    fn group_and_chroot_need_a_user() {
        for (group, chroot) in [(Some("mail"), None), (None, Some("/var/empty"))] {
            let err = validate(&privileges(None, group, chroot)).unwrap_err();
            assert!(err.contains("need --user"), "{err}");
        }
        let all = privileges(Some("mail"), Some("mail"), Some("/var/empty"));
        assert_eq!(validate(&all), Ok(()));
    }

    #[cfg(windows)]
    #[test]
    fn every_privilege_option_is_refused_by_name() {
        for (option, given) in [
            ("--user", privileges(Some("mail"), None, None)),
            ("--group", privileges(None, Some("mail"), None)),
            ("--chroot", privileges(None, None, Some(r"C:\empty"))),
        ] {
            let err = validate(&given).unwrap_err();
            assert!(
                err.starts_with(&format!("{option} is not supported on Windows")),
                "{err}"
            );
        }
    }
}
