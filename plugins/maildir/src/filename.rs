//! Maildir message file names: `<time>.<unique>.<host>[,S=<size>][,W=<vsize>][:2,<flags>]`.
//!
//! The base name (before the info separator) is what stays the same for the life of a message:
//! delivery puts it in `new/`, readers move it to `cur/` and append `:2,` and flags. Everything
//! that must survive a rename (UIDLs, cached sizes, the Dovecot uidlist) is keyed by it.
//! The separator is `:`; `!` and `;` followed by `2,` are accepted too, on every platform
//! (used where `:` cannot be in a file name, e.g. on FAT or by Windows ports of mail tools),
//! so a maildir copied between systems reads the same. Names this module makes use
//! [`SEPARATOR`].

/// The info separator of the names pop3host gives messages: `:` as maildir has it, and `!` on
/// Windows, where NTFS would read `name:2,S` as the alternate data stream `2,S` of the file
/// `name` (the convention of Dovecot's `maildir_info_separator` and mutt on such systems).
#[cfg(not(windows))]
pub const SEPARATOR: char = ':';
#[cfg(windows)]
pub const SEPARATOR: char = '!';

/// Splits `name` into its base name and, if present, the separator and the info after it.
pub fn split(name: &str) -> (&str, Option<(char, &str)>) {
    let bytes = name.as_bytes();
    if let Some(at) = memchr::memchr(b':', bytes) {
        return (&name[..at], Some((':', &name[at + 1..])));
    }
    // Names in new/ have no info: look for the rare separators only where they occur at all.
    if memchr::memchr2(b'!', b';', bytes).is_some() {
        for (sep, marker) in [('!', "!2,"), (';', ";2,")] {
            if let Some(at) = name.rfind(marker) {
                return (&name[..at], Some((sep, &name[at + 1..])));
            }
        }
    }
    (name, None)
}

pub fn base(name: &str) -> &str {
    split(name).0
}

/// Whether a directory entry of `new/` or `cur/` is a message: not a dotfile (temporary and
/// editor files), a non-empty base name, and no control characters (which cannot be written
/// to the line-based cache and uidlist files).
pub fn is_message(name: &str) -> bool {
    let control = if name.is_ascii() {
        name.bytes().any(|b| b.is_ascii_control())
    } else {
        name.contains(char::is_control)
    };
    !name.starts_with('.') && !base(name).is_empty() && !control
}

/// The delivery time: the leading decimal digits of the base name, if any.
pub fn delivery_time(base: &str) -> Option<u64> {
    let digits = base
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(base.len());
    base[..digits].parse().ok()
}

/// The `,W=` field of the base name: Dovecot's virtual size, the size with CRLF line ends.
pub fn virtual_size(base: &str) -> Option<u64> {
    base.split(',')
        .skip(1)
        .find_map(|field| field.strip_prefix("W=")?.parse().ok())
}

/// The name a message gets in `cur/` at the end of a session: `2,` info added after
/// [`SEPARATOR`] when missing (a name's own separator is kept),
/// and the Seen flag (`S`, kept in ASCII order as maildir requires) when `seen`. A name with
/// info other than `2,` (the experimental `1,` semantics) is left as it is.
pub fn cur_name(name: &str, seen: bool) -> String {
    let (base, info) = split(name);
    let (sep, flags) = match info {
        None => (SEPARATOR, ""),
        Some((sep, info)) => match info.strip_prefix("2,") {
            Some(flags) => (sep, flags),
            None => return name.to_string(),
        },
    };
    let mut flags = flags.to_string();
    if seen && !flags.contains('S') {
        let at = flags.find(|c: char| c > 'S').unwrap_or(flags.len());
        flags.insert(at, 'S');
    }
    format!("{base}{sep}2,{flags}")
}

/// Whether [`cur_name`] keeps `name` as it is (so for most of a large maildir at QUIT),
/// without building the new name.
pub fn keeps_name(name: &str, seen: bool) -> bool {
    match split(name).1 {
        None => false,
        Some((_, info)) => info
            .strip_prefix("2,")
            .is_none_or(|flags| !seen || flags.contains('S')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_and_info() {
        assert_eq!(split("123.M1P2.host"), ("123.M1P2.host", None));
        assert_eq!(
            split("123.M1P2.host:2,RS"),
            ("123.M1P2.host", Some((':', "2,RS")))
        );
        assert_eq!(
            split("123.M1P2.host:2,"),
            ("123.M1P2.host", Some((':', "2,")))
        );
        assert_eq!(
            split("123.M1P2.host!2,S"),
            ("123.M1P2.host", Some(('!', "2,S")))
        );
        assert_eq!(
            split("123.M1P2.host;2,S"),
            ("123.M1P2.host", Some((';', "2,S")))
        );
        assert_eq!(split("a!b.host"), ("a!b.host", None));
    }

    #[test]
    fn what_counts_as_a_message() {
        assert!(is_message("1.2.host") && is_message("1.2.host:2,S") && is_message("no-timestamp"));
        assert!(!is_message(".1.2.host") && !is_message(":2,S") && !is_message("a\nb"));
        assert!(!is_message("a\u{7f}b") && !is_message("é\u{85}") && is_message("1.é.host"));
    }

    #[test]
    fn timestamps_and_sizes_come_from_the_base_name() {
        assert_eq!(delivery_time("1700000000.M1P2.host"), Some(1_700_000_000));
        assert_eq!(delivery_time("host-without-time"), None);
        assert_eq!(virtual_size("1.M1.host,S=1000,W=1022"), Some(1022));
        assert_eq!(virtual_size("1.M1.host,W=7"), Some(7));
        assert_eq!(virtual_size("1.M1.host,S=1000"), None);
        assert_eq!(virtual_size("1.M1.host,W=x"), None);
        assert_eq!(virtual_size("1.W=5.host"), None);
    }

    /// The separator of new names is the platform's; a name's own separator stays.
    #[test]
    fn new_info_takes_the_platforms_separator() {
        #[cfg(windows)]
        let (new, other) = (
            "1.a.h!2,",
            [("1.a.h:2,", "1.a.h:2,S"), ("1.a.h;2,", "1.a.h;2,S")],
        );
        #[cfg(not(windows))]
        let (new, other) = (
            "1.a.h:2,",
            [("1.a.h!2,", "1.a.h!2,S"), ("1.a.h;2,", "1.a.h;2,S")],
        );
        assert_eq!(cur_name("1.a.h", false), new);
        assert_eq!(cur_name("1.a.h", true), format!("{new}S"));
        for (name, seen) in other {
            assert_eq!(cur_name(name, true), seen);
            assert_eq!(split(name).0, "1.a.h");
        }
    }

    #[test]
    fn seen_is_added_in_order() {
        assert_eq!(cur_name("1.a.h:2,", true), "1.a.h:2,S");
        assert_eq!(cur_name("1.a.h:2,FRT", true), "1.a.h:2,FRST");
        assert_eq!(cur_name("1.a.h:2,Sa", true), "1.a.h:2,Sa");
        assert_eq!(cur_name("1.a.h:2,Tab", true), "1.a.h:2,STab");
        assert_eq!(cur_name("1.a.h:2,DF", true), "1.a.h:2,DFS");
        assert_eq!(cur_name("1.a.h!2,F", true), "1.a.h!2,FS");
        assert_eq!(cur_name("1.a.h:2,F", false), "1.a.h:2,F");
        assert_eq!(cur_name("1.a.h:1,xyz", true), "1.a.h:1,xyz");
    }

    #[test]
    fn a_kept_name_is_exactly_one_cur_name_leaves_alone() {
        for name in [
            "1.a.h",
            "1.a.h:2,",
            "1.a.h:2,S",
            "1.a.h:2,FRT",
            "1.a.h!2,FS",
            "1.a.h:1,x",
        ] {
            for seen in [false, true] {
                assert_eq!(
                    keeps_name(name, seen),
                    cur_name(name, seen) == name,
                    "{name} {seen}"
                );
            }
        }
    }
}
