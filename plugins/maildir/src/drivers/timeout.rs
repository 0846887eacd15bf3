//! `timeout_seconds`, the key of every driver that waits for a source: read with a cap, so
//! that a typo cannot make a login wait for days, and so that every driver's deadline fits
//! what its source takes (PostgreSQL's `statement_timeout`, in milliseconds in an `i32`,
//! overflows above 2,147,483 s). Its errors name the key through the config's path
//! (`passdb.timeout_seconds`).

use serde::{de::Error as _, Deserialize, Deserializer};

/// The most `timeout_seconds` may be: an hour, far above any login's patience.
pub const MAX_TIMEOUT_SECONDS: u32 = 3600;

/// Deserializes `timeout_seconds`, refusing more than [`MAX_TIMEOUT_SECONDS`] (the drivers
/// refuse 0 where they check their other settings).
pub fn capped<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let seconds = u32::deserialize(deserializer)?;
    if seconds > MAX_TIMEOUT_SECONDS {
        return Err(D::Error::custom(format!(
            "{seconds} is above the limit of {MAX_TIMEOUT_SECONDS} seconds"
        )));
    }
    Ok(seconds)
}
