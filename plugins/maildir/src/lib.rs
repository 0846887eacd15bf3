//! # maildir: a pop3host backend for Maildir++ mailboxes
//!
//! Serves the INBOX maildirs of users from Dovecot-style sources (a passdb for passwords, a
//! userdb for homes and ids; a passwd-file for both by default), so that a site can
//! point pop3host at the files Dovecot or Courier served and have clients notice nothing: the
//! same passwords (every common scheme), the same UIDLs (Dovecot's, from its `dovecot-uidlist`,
//! or the file names Courier serves), the same sizes, and flags updated the same way.
//!
//! Module map, one concern each:
//! - users: `config` (the JSON), `drivers` (the passdb and userdb drivers, one module each:
//!   `passwd_file`, `checkpassword`, `system`, `ldap`, `sql`; `slots`, `deadline` and `pace`,
//!   the bound on calls, the wait on calls that cannot be interrupted and the unknown-user
//!   timing rule they share; `remembered`, the authentication cache for passdbs without a
//!   stored credential), `passwd` (the passwd-file format), the
//!   password schemes in the workspace crate `password_schemes`, `template` (where a user's
//!   maildir is);
//! - mail: `listing` (reading `new/`, `cur/`), `filename` (maildir names), `snapshot`
//!   (what a session sees) and `message` (one message of it, found again when renamed),
//!   `uidl` and `uidlist` (UIDLs), `size_cache` (sizes measured once, remembered), `lock`
//!   (one session per maildrop), `update` (QUIT), `mailbox` (the session; it measures sizes
//!   with `pop3_plugin_api::crlf_size`);
//! - the hostile store: `fs_at` (every file through directory handles, no symlinks, regular
//!   files only), `store` (a session's open directories), `control_file` (bounded reads of
//!   the uidlist and size cache), `message_reader` (a message is as long as it was at open),
//!   `fs_identity` (each user's files with that user's uid and gid; on Windows, where there
//!   is none to take on, `fs_identity_windows`: the account's own rights);
//! - `backend`: the plugin entry points.

mod backend;
mod config;
mod control_file;
mod deferred_open;
mod drivers;
mod filename;
mod fs_at;
// Windows has no per-user file rights to take on: its own module says what it does instead.
#[cfg_attr(windows, path = "fs_identity_windows.rs")]
mod fs_identity;
mod listing;
mod lock;
mod mailbox;
mod message;
mod message_reader;
mod passwd;
mod size_cache;
mod snapshot;
mod store;
mod template;
mod uidl;
mod uidlist;
mod update;

pub use backend::MaildirBackend;

pop3_plugin_api::export_plugin!(MaildirBackend);
