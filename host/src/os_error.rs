//! Operating-system errors that `std::io::ErrorKind` does not name (a missing address family,
//! running out of descriptors), recognised by each platform's own codes: errno values from
//! libc on Unix, Winsock and Win32 codes on Windows. Never a number written by hand, which
//! would be right on one platform only.

use std::io;

/// Whether `error` says the machine lacks the socket's address family (no IPv6).
pub fn is_missing_family(error: &io::Error) -> bool {
    error.raw_os_error() == Some(codes::MISSING_FAMILY)
}

/// Whether `error` says the process or the system ran out of file descriptors (handles).
pub fn is_out_of_descriptors(error: &io::Error) -> bool {
    error
        .raw_os_error()
        .is_some_and(|code| codes::OUT_OF_DESCRIPTORS.contains(&code))
}

/// Whether `text` (a plugin's error, which crosses the boundary as text) holds an
/// out-of-descriptors `io::Error`, which prints its code as `(os error N)`.
pub fn mentions_out_of_descriptors(text: &str) -> bool {
    codes::OUT_OF_DESCRIPTORS
        .iter()
        .any(|code| text.contains(&format!("(os error {code})")))
}

#[cfg(unix)]
mod codes {
    use nix::libc;

    pub const MISSING_FAMILY: i32 = libc::EAFNOSUPPORT;
    pub const OUT_OF_DESCRIPTORS: [i32; 2] = [libc::EMFILE, libc::ENFILE];
}

#[cfg(windows)]
mod codes {
    use windows_sys::Win32::Foundation::ERROR_TOO_MANY_OPEN_FILES;
    use windows_sys::Win32::Networking::WinSock::{WSAEAFNOSUPPORT, WSAEMFILE};

    pub const MISSING_FAMILY: i32 = WSAEAFNOSUPPORT;
    pub const OUT_OF_DESCRIPTORS: [i32; 2] = [WSAEMFILE, ERROR_TOO_MANY_OPEN_FILES as i32];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugins_out_of_descriptors_error_is_recognised_from_its_text() {
        for code in codes::OUT_OF_DESCRIPTORS {
            let error = io::Error::from_raw_os_error(code);
            assert!(is_out_of_descriptors(&error));
            let plugin_says = format!("cannot open the lock file: {error}");
            assert!(mentions_out_of_descriptors(&plugin_says), "{plugin_says}");
        }
        let other = io::Error::from(io::ErrorKind::NotFound);
        assert!(!is_out_of_descriptors(&other));
        assert!(!mentions_out_of_descriptors(&other.to_string()));
        assert!(!mentions_out_of_descriptors("(os error 2)"));
    }

    #[test]
    fn only_the_missing_family_code_means_no_such_family() {
        assert!(is_missing_family(&io::Error::from_raw_os_error(
            codes::MISSING_FAMILY
        )));
        assert!(!is_missing_family(&io::Error::from(
            io::ErrorKind::AddrInUse
        )));
    }
}
