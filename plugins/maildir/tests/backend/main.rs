//! The maildir backend through the plugin traits, as the host drives it: `init` with a JSON
//! config, `authenticate`, then `list`, `size`, `retrieve`, `top`, `delete` on real files in
//! a temporary directory. No network and no host: the end-to-end tests live in the workspace.

mod auth;
mod common;
mod dovecot;
mod listing;
mod locking;
mod retrieval;
mod sizes;
mod update;
