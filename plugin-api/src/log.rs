//! Logging from a plugin into the host's log, attributed to the plugin.
//!
//! A plugin library has its own copy of every crate, `tracing` included, so its
//! `tracing::info!` would reach no subscriber. These functions send the line through the host
//! instead. Never log passwords or message bodies at `info` or above.

use crate::context;
use crate::ffi::LogLevel;
use abi_stable::std_types::RStr;

/// Sends one line to the host's log. Before `init` (or in unit tests) it goes to stderr.
pub fn log(level: LogLevel, message: &str) {
    match context::host() {
        Some((host, plugin)) => {
            (host.log())(level, RStr::from_str(plugin), RStr::from_str(message))
        }
        None => eprintln!("{message}"),
    }
}

pub fn error(message: &str) {
    log(LogLevel::ERROR, message)
}
pub fn warn(message: &str) {
    log(LogLevel::WARN, message)
}
pub fn info(message: &str) {
    log(LogLevel::INFO, message)
}
pub fn debug(message: &str) {
    log(LogLevel::DEBUG, message)
}

/// `info!("user {user} logged in")`: formats and logs at info level through the host.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&format!($($arg)*)) };
}

/// Like [`info!`](crate::info) at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&format!($($arg)*)) };
}

/// Like [`info!`](crate::info) at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&format!($($arg)*)) };
}

/// Like [`info!`](crate::info) at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&format!($($arg)*)) };
}
