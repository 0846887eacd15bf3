//! The `--plugin-config` JSON: parsed strictly (unknown keys are errors, so a typo such as
//! `"no_flag_update"` cannot silently leave a default in force), with errors that name the key.

use pop3_plugin_api::PopError;
use serde::Deserialize;
use std::path::PathBuf;

/// Where the UIDLs come from (see the `uidl` key in [`HELP`]).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UidlMode {
    /// Dovecot's UIDLs when the maildir has a `dovecot-uidlist`, else the file names.
    #[default]
    Auto,
    /// Always the base file name (what Courier and most maildir POP3 servers serve).
    Filename,
    /// Dovecot's UIDLs; messages the uidlist does not know fall back to the file name.
    Dovecot,
}

/// The plugin configuration, one field per documented key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub passwd_file: PathBuf,
    #[serde(default = "default_maildir")]
    pub maildir: String,
    #[serde(default)]
    pub create: bool,
    #[serde(default)]
    pub uidl: UidlMode,
    #[serde(default)]
    pub no_flag_updates: bool,
    #[serde(default = "enabled")]
    pub size_cache: bool,
    #[serde(default)]
    pub virtual_users: bool,
}

fn default_maildir() -> String {
    "%h/Maildir".to_string()
}

fn enabled() -> bool {
    true
}

/// What `pop3host --describe` shows for this plugin.
pub const HELP: &str = r#"JSON object; keys:
  "passwd_file"      (string, required) users in Dovecot's passwd-file format:
                     user:{SCHEME}hash:uid:gid:gecos:home:shell:extra (trailing fields optional).
                     Schemes: PLAIN (CLEARTEXT), CRYPT, SHA512-CRYPT, SHA256-CRYPT, MD5-CRYPT (MD5),
                     BLF-CRYPT, ARGON2I, ARGON2ID, SHA, SSHA, SHA256, SSHA256, SHA512, SSHA512; a hash
                     without {SCHEME} is read by its $id$. Re-read when it changes; APOP works for
                     PLAIN users.
  "maildir"          (string, default "%h/Maildir") the user's Maildir++ INBOX: %u user name,
                     %n its local part, %d its domain, %h home from passwd_file, %% a percent sign;
                     a leading "~/" means "%h/". Must be absolute and name the user.
  "create"           (bool, default false) create a missing maildir (cur/ new/ tmp/) at login;
                     otherwise a missing maildir is an empty mailbox.
  "uidl"             ("auto" | "filename" | "dovecot", default "auto") UIDLs: "filename" serves the
                     base file name (hashed when it is not a valid UIDL); "dovecot" serves what
                     Dovecot serves from its dovecot-uidlist (pop3_uidl_format %08Xu%08Xv), falling
                     back to the file name for messages it does not list; "auto" is "dovecot" when
                     the maildir has a dovecot-uidlist.
  "no_flag_updates"  (bool, default false) at QUIT, leave messages where they are: no Seen flag
                     for retrieved messages and no move from new/ to cur/.
  "size_cache"       (bool, default true) remember measured message sizes in <maildir>/pop3host-sizes
                     so that later logins need not read messages without a ,W= size in their name.
  "virtual_users"    (bool, default false) every maildir belongs to one mail user that no login
                     user can write as (the usual virtual-users setup): serve maildirs whatever
                     their owner. Otherwise, when pop3host cannot switch to a user's uid:gid (it
                     is not root and lacks CAP_SETUID/CAP_SETGID) or the line has none, a maildir
                     owned by another uid than pop3host's is refused ([SYS/PERM], logged with the
                     path): its owner could plant links to files only pop3host may read.
Users' files: with the right to switch, each user's files are read and written with the
passwd-file's uid and gid (per thread, as Dovecot does), so the kernel stops a user's links to
files they cannot read themselves. In every setup, nothing in a maildir is followed if it is a
symlink (cur/, new/, messages, pop3host.lock, dovecot-uidlist, pop3host-sizes), only regular
files are opened (a FIFO, device or socket is skipped with a warning), dovecot-uidlist and
pop3host-sizes larger than the maildir warrants (1 MiB + 1 KiB a message, at most 128 MiB) are
ignored, and a message is sent with the length it had when RETR opened it.
Examples:
  {"passwd_file": "/etc/dovecot/users", "maildir": "/var/vmail/%d/%n/Maildir", "uidl": "auto"}
  {"passwd_file": "/etc/dovecot/users", "maildir": "/var/vmail/%d/%n", "virtual_users": true}"#;

impl Config {
    /// Parses the config text the host passes to `init` (`null` when none was given).
    pub fn parse(text: &str) -> Result<Self, PopError> {
        if text.trim() == "null" {
            return Err(PopError::permanent(
                "maildir needs a config with passwd_file",
            ));
        }
        let mut json = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut json).map_err(|err| {
            let path = err.path().to_string();
            let message = if path == "." {
                format!("maildir config: {}", err.inner())
            } else {
                format!("maildir config key \"{path}\": {}", err.inner())
            };
            PopError::permanent(message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_the_optional_keys() {
        let config = Config::parse(r#"{"passwd_file": "/etc/users"}"#).unwrap();
        assert_eq!(config.passwd_file, PathBuf::from("/etc/users"));
        assert_eq!(config.maildir, "%h/Maildir");
        assert!(!config.create && !config.no_flag_updates && config.size_cache);
        assert!(!config.virtual_users);
        assert_eq!(config.uidl, UidlMode::Auto);
    }

    #[test]
    fn every_key_is_read() {
        let config = Config::parse(
            r#"{"passwd_file": "/u", "maildir": "/m/%u", "create": true, "uidl": "dovecot",
                "no_flag_updates": true, "size_cache": false, "virtual_users": true}"#,
        )
        .unwrap();
        assert!(config.virtual_users);
        assert_eq!(config.maildir, "/m/%u");
        assert!(config.create && config.no_flag_updates && !config.size_cache);
        assert_eq!(config.uidl, UidlMode::Dovecot);
    }

    #[test]
    fn null_asks_for_a_config() {
        let err = Config::parse("null").unwrap_err();
        assert_eq!(err.message, "maildir needs a config with passwd_file");
    }

    #[test]
    fn errors_name_the_key() {
        let err = Config::parse(r#"{"passwd_file": "/u", "create": "yes"}"#).unwrap_err();
        assert!(err.message.contains("\"create\""), "{}", err.message);
        let err = Config::parse(r#"{"passwd_file": "/u", "uidl": "imap"}"#).unwrap_err();
        assert!(err.message.contains("\"uidl\""), "{}", err.message);
        let err = Config::parse(r#"{"passwd_file": "/u", "no_flag_update": true}"#).unwrap_err();
        assert!(err.message.contains("no_flag_update"), "{}", err.message);
        let err = Config::parse(r#"{"maildir": "/m/%u"}"#).unwrap_err();
        assert!(err.message.contains("passwd_file"), "{}", err.message);
    }
}
