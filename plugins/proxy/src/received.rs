//! The optional `Received:` trace header (RFC 5322 §3.6.7) that marks each message as having
//! passed the proxy. It is made once per message and session, at login, so that the sizes
//! in `list` count it exactly and RETR and TOP send the same bytes. The date has a fixed
//! width, so the size is the same in every session too.

use std::time::{SystemTime, UNIX_EPOCH};

/// What a session's headers share: who sent, who received, and when the session began.
pub struct Stamp {
    from: String,
    by: String,
    date: String,
}

impl Stamp {
    pub fn new(from: &str, by: &str, now: SystemTime) -> Self {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self {
            from: from.to_string(),
            by: by.to_string(),
            date: rfc5322_date(secs),
        }
    }

    /// The header for the message with UIDL `id`, folded to keep lines short.
    pub fn header(&self, id: &str) -> Vec<u8> {
        let Self { from, by, date } = self;
        format!("Received: from {from}\r\n\tby {by} with POP3 id {id};\r\n\t{date}\r\n")
            .into_bytes()
    }
}

/// `Thu, 01 Jan 1970 00:00:00 +0000` for `secs` after the Unix epoch, in UTC.
pub fn rfc5322_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    let time = secs % 86_400;
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[month as usize - 1],
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The machine's host name, for `Received: ... by`; `localhost` if it cannot be read.
pub fn system_hostname() -> String {
    hostname_sources()
        .map(|name| name.trim().to_string())
        .find(|name| !name.is_empty() && !name.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".to_string())
}

/// Where the host name is read (std has no call for it): the kernel's, then the configured.
#[cfg(unix)]
fn hostname_sources() -> impl Iterator<Item = String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
}

/// Windows sets the computer's name in every process's environment.
#[cfg(windows)]
fn hostname_sources() -> impl Iterator<Item = String> {
    std::env::var("COMPUTERNAME").into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_across_leap_years_and_centuries() {
        for (secs, date) in [
            (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 +0000"),
            (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 +0000"),
            (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 +0000"),
        ] {
            assert_eq!(rfc5322_date(secs), date, "{secs}");
        }
    }

    #[test]
    fn the_platform_tells_its_host_name() {
        let name = hostname_sources().next().expect("a host name source");
        assert!(!name.trim().is_empty());
        assert_eq!(system_hostname(), name.trim());
    }

    #[test]
    fn header_has_the_same_length_on_any_day() {
        let header = |secs| {
            Stamp::new(
                "up.example",
                "proxy.example",
                UNIX_EPOCH + Duration::from_secs(secs),
            )
            .header("uid-1")
        };
        let first = header(1_700_000_000);
        assert_eq!(
            String::from_utf8(first.clone()).unwrap(),
            "Received: from up.example\r\n\tby proxy.example with POP3 id uid-1;\r\n\tTue, 14 Nov 2023 22:13:20 +0000\r\n"
        );
        assert_eq!(header(0).len(), first.len());
        assert_eq!(header(4_102_444_800).len(), first.len());
    }
}
