//! Errors a backend returns, each with the RFC 2449/3206 response code that the host puts on
//! the wire. The code is an integer newtype, not an enum, so that a later ABI can add codes
//! without breaking the layout check of older hosts or plugins.

use abi_stable::StableAbi;
use std::fmt;

/// An extended response code (RFC 2449 §8, RFC 3206): the `[CODE]` of `-ERR [CODE] text`.
///
/// An integer, not an enum: a later version may add codes without changing the ABI, and a
/// code this host does not know is sent as a plain `-ERR`. Build errors with the
/// [`PopError`] constructors rather than with these constants.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ResponseCode(pub u32);

impl ResponseCode {
    /// No code: a plain `-ERR text`. For a request that fails while the session is fine (a
    /// message that vanished).
    pub const NONE: Self = Self(0);
    /// The credentials were wrong (RFC 3206): a wrong user name and a wrong password alike.
    pub const AUTH: Self = Self(1);
    /// The maildrop is locked by another session (RFC 2449): the client may retry later.
    pub const IN_USE: Self = Self(2);
    /// The user logged in too recently (RFC 2449). The host sends it itself when it enforces
    /// [`Backend::login_delay`](crate::Backend::login_delay).
    pub const LOGIN_DELAY: Self = Self(3);
    /// A temporary failure: the client should try again later (RFC 3206). Also what the host
    /// sends for a panic, a missed deadline or an overloaded backend.
    pub const SYS_TEMP: Self = Self(4);
    /// A failure that will not go away until a human acts (RFC 3206): the client should stop
    /// retrying and tell the user.
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
/// backend may put internal details here. For the other codes the message is the client's
/// text (one line, cut to fit 512 octets, control characters replaced): keep it short and
/// free of secrets. `SYS/TEMP` and `SYS/PERM` failures are logged at warn level, the others
/// at debug.
///
/// Which constructor when:
///
/// | situation | constructor |
/// |---|---|
/// | wrong user name or password | [`PopError::auth`] |
/// | the maildrop is locked by another session | [`PopError::in_use`] |
/// | the user must wait before logging in again | [`PopError::login_delay`] |
/// | a transient failure (busy, unreachable, timed out, out of space) | [`PopError::temporary`] |
/// | a failure that needs a human (corrupt, misconfigured, disabled, forbidden) | [`PopError::permanent`] |
/// | one message or request failed, the session is fine | [`PopError::plain`] |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PopError {
    pub code: ResponseCode,
    pub message: String,
}

impl PopError {
    /// An error with any code; the named constructors below are clearer.
    pub fn new(code: ResponseCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    /// `[AUTH]`: wrong user name or password. Use one text for both cases in what the
    /// client could see; the host shows a fixed text anyway and logs yours.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::AUTH, message)
    }
    /// `[IN-USE]`: the maildrop is locked by another session.
    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::IN_USE, message)
    }
    /// `[LOGIN-DELAY]`: the user must wait before logging in again.
    pub fn login_delay(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::LOGIN_DELAY, message)
    }
    /// `[SYS/TEMP]`: a failure that may go away if the client tries again later (a busy or
    /// unreachable store, a lock held too long).
    pub fn temporary(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::SYS_TEMP, message)
    }
    /// `[SYS/PERM]`: a failure that will not go away without a human (a corrupt store, wrong
    /// permissions, a disabled account). At `init`, the error that stops the server.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ResponseCode::SYS_PERM, message)
    }
    /// A plain `-ERR` for this one request (a message that vanished, say); the session goes
    /// on.
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
