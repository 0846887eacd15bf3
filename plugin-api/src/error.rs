//! Errors a backend returns, each with the RFC 2449/3206 response code that the host puts on
//! the wire. The code is an integer newtype, not an enum, so that a later ABI can add codes
//! without breaking the layout check of older hosts or plugins.

use abi_stable::StableAbi;
use std::fmt;

/// An extended response code (RFC 2449 §8, RFC 3206).
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ResponseCode(pub u32);

impl ResponseCode {
    /// No code: a plain `-ERR text`.
    pub const NONE: Self = Self(0);
    /// The credentials were wrong (RFC 3206).
    pub const AUTH: Self = Self(1);
    /// The maildrop is locked by another session (RFC 2449).
    pub const IN_USE: Self = Self(2);
    /// The user logged in too recently (RFC 2449).
    pub const LOGIN_DELAY: Self = Self(3);
    /// A temporary failure: the client should try again later (RFC 3206).
    pub const SYS_TEMP: Self = Self(4);
    /// A permanent failure that needs a human (RFC 3206).
    pub const SYS_PERM: Self = Self(5);

    /// The text between the brackets, or `None` for [`ResponseCode::NONE`] and codes this
    /// version does not know.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Self::AUTH => Some("AUTH"),
            Self::IN_USE => Some("IN-USE"),
            Self::LOGIN_DELAY => Some("LOGIN-DELAY"),
            Self::SYS_TEMP => Some("SYS/TEMP"),
            Self::SYS_PERM => Some("SYS/PERM"),
            _ => None,
        }
    }
}

/// A failed backend call: what went wrong, and which response code the client gets.
///
/// The host decides the wire text from the code (see the host's `reply` module): for `AUTH`
/// and `SYS/TEMP` the client sees a fixed text and the message goes only to the log, so a
/// backend may put internal details here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PopError {
    pub code: ResponseCode,
    pub message: String,
}

impl PopError {
    pub fn new(code: ResponseCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    /// Wrong user name or password.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::AUTH, message)
    }
    /// The maildrop is locked by another session.
    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::IN_USE, message)
    }
    /// The user must wait before logging in again.
    pub fn login_delay(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::LOGIN_DELAY, message)
    }
    /// A failure that may go away if the client tries again later.
    pub fn temporary(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::SYS_TEMP, message)
    }
    /// A failure that will not go away without a human.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::SYS_PERM, message)
    }
    /// A plain `-ERR` for this one request (a message that vanished, say).
    pub fn plain(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::NONE, message)
    }
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code.as_str() {
            Some(code) => write!(f, "[{code}] {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PopError {}

impl From<std::io::Error> for PopError {
    /// A `PopError` wrapped in an `io::Error` (how a message reader reports one) comes back
    /// as it was; other I/O errors are temporary unless the data is not there or not allowed.
    fn from(err: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        if let Some(inner) = err.get_ref().and_then(|e| e.downcast_ref::<PopError>()) {
            return inner.clone();
        }
        match err.kind() {
            NotFound => Self::plain(format!("message is gone: {err}")),
            PermissionDenied => Self::permanent(err.to_string()),
            _ => Self::temporary(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn io_errors_map_to_codes_and_keep_a_wrapped_pop_error() {
        let wrapped = io::Error::other(PopError::permanent("quota"));
        assert_eq!(PopError::from(wrapped), PopError::permanent("quota"));
        assert_eq!(
            PopError::from(io::Error::from(io::ErrorKind::NotFound)).code,
            ResponseCode::NONE
        );
        assert_eq!(
            PopError::from(io::Error::from(io::ErrorKind::PermissionDenied)).code,
            ResponseCode::SYS_PERM
        );
        assert_eq!(
            PopError::from(io::Error::from(io::ErrorKind::Interrupted)).code,
            ResponseCode::SYS_TEMP
        );
    }
}
