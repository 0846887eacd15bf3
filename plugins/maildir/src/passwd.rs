//! Dovecot's passwd-file: `user:password:uid:gid:gecos:home:shell:extra_fields`, one user a line,
//! trailing fields optional, blank lines and `#` comments skipped. The user name, the password,
//! the uid and gid (whose file rights the session runs with, see [`crate::fs_identity`]) and
//! the home directory matter here; gecos, shell and extra fields are ignored. A home with a
//! drive letter (`C:\\Users\\ann`) is one field (see [`split_fields`]); the uid and gid are
//! ignored on Windows (see `fs_identity_windows.rs`).
//!
//! A bad line never takes the good ones with it, and never leaves its user with an older
//! version of the line: its user is refused (as is a name listed twice), the others are
//! served, and every bad line is reported with file and line number.

use password_schemes::Credential;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// At most this many line errors are listed; a file that bad needs fixing, not a longer list.
const MAX_LISTED_ERRORS: usize = 20;

/// Characters that no user name may hold: path separators and what Windows refuses in a file
/// name (`:` also names an NTFS stream). Refused on every platform, so that a maildir named
/// after its user can move between systems.
const UNSAFE_CHARACTERS: [char; 9] = ['/', '\\', ':', '*', '?', '"', '<', '>', '|'];

/// Why `name` cannot be part of a path, if it cannot: it must stay one path component inside
/// its directory on every platform (see [`UNSAFE_CHARACTERS`]; no `..`, no control
/// characters, no trailing dot or space, which Windows strips), and on Windows not be a
/// device name (see [`is_device_name`]).
pub fn user_name_problem(name: &str) -> Option<&'static str> {
    // `%n` and `%d` (before and after the first `@`) are path components of their own in
    // templates such as `C:\vmail\%d\%n`: they may be empty (the template refuses that
    // where it matters) but must not be `.`, end with a dot or a space, or name a device.
    let parts = name.split_once('@').map(|(local, domain)| [local, domain]);
    let parts = parts.iter().flatten();
    if name.is_empty() || name == "." || name.contains("..") {
        Some("it is empty, '.' or contains '..'")
    } else if name.contains(char::is_control) {
        Some("it contains control characters")
    } else if name.contains(UNSAFE_CHARACTERS) {
        Some(r#"it contains one of / \ : * ? " < > |"#)
    } else if name.ends_with(['.', ' ']) {
        Some("it ends with a dot or a space")
    } else if parts
        .clone()
        .any(|part| *part == "." || part.ends_with(['.', ' ']))
    {
        Some("the part before or after its '@' is '.' or ends with a dot or a space")
    } else if cfg!(windows)
        && (is_device_name(name) || parts.clone().any(|part| is_device_name(part)))
    {
        Some("it is a Windows device name (CON, PRN, AUX, NUL, CONIN$, CONOUT$, COM1-9, LPT1-9)")
    } else if cfg!(windows) && name.contains('~') {
        // `VERYLO~1` names the directory `verylongusername` where NTFS makes 8.3 short names.
        Some("it contains ~, which on Windows can make it another file's short (8.3) name")
    } else {
        None
    }
}

/// A user name that can go into a path without escaping its directory.
pub fn is_safe_user_name(name: &str) -> bool {
    user_name_problem(name).is_none()
}

/// Whether Windows takes `name` for a device: CON, PRN, AUX, NUL, CONIN$, CONOUT$, COM1-9
/// and LPT1-9 (also with the superscript digits ¹²³), in any case, alone or before an
/// extension (`nul.txt`), trailing spaces ignored. Refused on Windows only: on Unix these are
/// ordinary names, and existing users called `con` or `aux` keep their mail.
fn is_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => ["COM", "LPT"].iter().any(|device| {
            upper.strip_prefix(device).is_some_and(|number| {
                let mut digits = number.chars();
                matches!(digits.next(), Some('1'..='9' | '¹' | '²' | '³'))
                    && digits.next().is_none()
            })
        }),
    }
}

#[derive(Debug)]
pub struct User {
    pub name: String,
    pub credential: Credential,
    /// The uid and gid from the passwd-file, when the line gives them.
    pub ids: Option<(u32, u32)>,
    pub home: String,
}

/// The users of one version of the file.
#[derive(Debug)]
pub struct Users {
    by_name: HashMap<String, User>,
    dummy: Credential,
    /// Whether some user's password is stored in plain text (asked once per connection).
    any_plaintext: bool,
    /// `file:line: problem` for every bad line; their users are not served.
    problems: Vec<String>,
}

impl Users {
    /// Parses the file's text. `need_home` requires an absolute home on every line (the maildir
    /// template uses `%h`). Bad lines are listed in [`Users::problems`] as `file:line:
    /// problem`; the user of a bad line, and a name listed twice, is left out.
    pub fn parse(text: &str, source: &Path, need_home: bool) -> Self {
        let mut by_name: HashMap<String, User> = HashMap::new();
        let mut refused: HashSet<String> = HashSet::new();
        let mut errors = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            // Dovecot also skips lines that start with ':' (no user name).
            if line.trim().is_empty() || line.starts_with('#') || line.starts_with(':') {
                continue;
            }
            let name = line.split(':').next().unwrap_or_default();
            match parse_line(line, need_home) {
                Ok(_) if refused.contains(name) || by_name.contains_key(name) => {
                    errors.push((index + 1, format!("user {name} is listed twice")));
                    by_name.remove(name);
                    refused.insert(name.to_string());
                }
                Ok(user) => {
                    by_name.insert(user.name.clone(), user);
                }
                Err(problem) => {
                    errors.push((index + 1, problem));
                    by_name.remove(name);
                    refused.insert(name.to_string());
                }
            }
        }
        let problems = errors
            .iter()
            .map(|(line, problem)| format!("{}:{line}: {problem}", source.display()))
            .collect();
        let dummy = pick_dummy(by_name.values());
        let any_plaintext = by_name
            .values()
            .any(|user| user.credential.plaintext().is_some());
        Self {
            by_name,
            dummy,
            any_plaintext,
            problems,
        }
    }

    /// The bad lines, `file:line: problem`, at most [`MAX_LISTED_ERRORS`] and a count of the
    /// rest: a file that bad needs fixing, not a longer list.
    pub fn problems(&self) -> Option<String> {
        if self.problems.is_empty() {
            return None;
        }
        let shown = self.problems.len().min(MAX_LISTED_ERRORS);
        let mut report = self.problems[..shown].to_vec();
        if self.problems.len() > shown {
            report.push(format!(
                "... and {} more bad lines",
                self.problems.len() - shown
            ));
        }
        Some(report.join("\n"))
    }

    /// The user a login name refers to: the exact name, or else its lower-case form (Dovecot's
    /// default `auth_username_format = %Lu` lower-cases logins, ASCII only).
    pub fn lookup(&self, login: &str) -> Option<&User> {
        self.by_name
            .get(login)
            .or_else(|| self.by_name.get(&login.to_ascii_lowercase()))
    }

    /// What to verify a password against: the user's credential or, for an unknown user, a
    /// dummy of the costliest scheme and parameters in the file (a copy of one user's), so that
    /// an unknown user costs at least what a wrong password for any user costs and logins
    /// reveal no user names. The caller rejects an unknown user whatever the dummy says.
    ///
    /// A wrong password for a cheap scheme's user still answers sooner than for a costly
    /// one's, which tells the scheme of a known name; Dovecot is the same, and the name is
    /// what must not leak.
    pub fn credential_for<'a>(&'a self, user: Option<&'a User>) -> &'a Credential {
        user.map_or(&self.dummy, |user| &user.credential)
    }

    /// Whether some user can log in with APOP (their password is stored in plain text).
    pub fn any_plaintext(&self) -> bool {
        self.any_plaintext
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }
}

/// Where the home is among a line's fields.
const HOME: usize = 5;

/// The fields of a line, split at `:`, except that a home with a drive letter (`C:\\mail\\ann`
/// or `C:/mail/ann`) stays one field: Dovecot's format has no escape for `:`, and a home
/// that is one letter before a field starting with `\\` or `/` would be no home at all (not
/// absolute), so nothing that worked is read differently. Read so on every platform; only
/// Windows takes such a home as absolute.
fn split_fields(line: &str) -> Vec<&str> {
    let mut fields: Vec<&str> = line.splitn(HOME + 1, ':').collect();
    let Some(rest) = fields.pop().filter(|_| fields.len() == HOME) else {
        return line.split(':').collect();
    };
    let home_len = match rest.as_bytes() {
        [drive, b':', b'\\' | b'/', ..] if drive.is_ascii_alphabetic() => {
            2 + rest[2..].find(':').unwrap_or(rest.len() - 2)
        }
        _ => rest.find(':').unwrap_or(rest.len()),
    };
    fields.push(&rest[..home_len]);
    if let Some(after) = rest.get(home_len + 1..) {
        fields.extend(after.split(':'));
    }
    fields
}

fn parse_line(line: &str, need_home: bool) -> Result<User, String> {
    let fields = split_fields(line);
    let name = fields[0];
    if let Some(why) = user_name_problem(name) {
        return Err(format!("user name {name:?} cannot be served: {why}"));
    }
    // The file is read lossily so that an 8-bit gecos does no harm; the fields used here must
    // be intact.
    if [0, 1, 5]
        .iter()
        .any(|&i| fields.get(i).is_some_and(|f| f.contains('\u{FFFD}')))
    {
        return Err(format!("user {name}: the line is not valid UTF-8"));
    }
    let credential = Credential::parse(fields.get(1).copied().unwrap_or_default())
        .map_err(|problem| format!("user {name}: {problem}"))?;
    let ids = parse_ids(fields.get(2).copied(), fields.get(3).copied())
        .map_err(|problem| format!("user {name}: {problem}"))?;
    let home = fields.get(HOME).copied().unwrap_or_default();
    if need_home && !Path::new(home).is_absolute() {
        return Err(format!("user {name}: the maildir template uses %h but the home field (6th) is not an absolute path"));
    }
    Ok(User {
        name: name.to_string(),
        credential,
        ids,
        home: home.to_string(),
    })
}

/// The uid and gid fields: both numbers, or both empty (pop3host's own rights then).
fn parse_ids(uid: Option<&str>, gid: Option<&str>) -> Result<Option<(u32, u32)>, String> {
    fn field(value: Option<&str>) -> &str {
        value.unwrap_or_default().trim()
    }
    match (field(uid), field(gid)) {
        ("", "") => Ok(None),
        (uid, gid) => match (uid.parse(), gid.parse()) {
            (Ok(uid), Ok(gid)) => Ok(Some((uid, gid))),
            _ => Err(
                "the uid and gid (3rd and 4th fields) must both be numbers, or both empty"
                    .to_string(),
            ),
        },
    }
}

/// A copy of the credential that is slowest to verify: one per cost class is timed (the
/// fastest of a few runs, to see past a busy machine), since a rule by scheme name could not
/// rank parameters (rounds, memory) against each other.
fn pick_dummy<'a>(users: impl Iterator<Item = &'a User>) -> Credential {
    let mut classes: HashMap<&str, &Credential> = HashMap::new();
    for user in users {
        if let Some(class) = user.credential.cost_class() {
            classes.entry(class).or_insert(&user.credential);
        }
    }
    let cost = |credential: &Credential| {
        (0..3)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(credential.verify("\u{1}not the password"));
                started.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    match classes.len() {
        0 => Credential::Disabled,
        1 => classes
            .into_values()
            .next()
            .cloned()
            .unwrap_or(Credential::Disabled),
        _ => classes
            .into_values()
            .max_by_key(|credential| cost(credential))
            .cloned()
            .unwrap_or(Credential::Disabled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA512: &str = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";

    fn parse(text: &str) -> Users {
        Users::parse(text, Path::new("/etc/users"), false)
    }

    #[test]
    fn dovecot_lines_with_and_without_trailing_fields() {
        let text = format!(
            "# comment\n\n:skipped\nann:{{PLAIN}}pw:1000:1000::/home/ann::\r\nbob:{SHA512}\ncarl\nMixed:{{PLAIN}}x:1:1:Gecos, With Spaces:/home/m:/bin/sh:userdb_quota_rule=*:storage=1G\n"
        );
        let users = parse(&text);
        assert!(users.problems().is_none());
        assert_eq!(users.len(), 4);
        let ann = users.lookup("ann").unwrap();
        assert_eq!(ann.home, "/home/ann");
        assert!(ann.credential.verify("pw"));
        assert!(users.lookup("bob").unwrap().credential.verify("password"));
        assert!(!users.lookup("carl").unwrap().credential.verify(""));
        assert!(users.any_plaintext());
        assert_eq!(users.lookup("ANN").unwrap().name, "ann");
        assert_eq!(users.lookup("Mixed").unwrap().home, "/home/m");
        assert!(users.lookup("nobody").is_none());
    }

    #[test]
    fn errors_carry_file_and_line_and_never_the_hash() {
        let bad_hash =
            "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc";
        let text = format!(
            "ok:{{PLAIN}}x\nbroken:{{SHA512-CRYPT}}{bad_hash}\n# fine\nweird:{{NTLM}}abcdef0123456789\nok:{{PLAIN}}y\nsl/ash:{{PLAIN}}z\n"
        );
        let users = parse(&text);
        let err = users.problems().unwrap();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 4, "{err}");
        assert!(lines[0].starts_with("/etc/users:2: user broken: "), "{err}");
        assert!(
            lines[1].starts_with("/etc/users:4: user weird: unsupported password scheme {NTLM}"),
            "{err}"
        );
        assert!(
            lines[2].starts_with("/etc/users:5: user ok is listed twice"),
            "{err}"
        );
        assert!(lines[3].starts_with("/etc/users:6: "), "{err}");
        assert!(
            !err.contains("qFmFH") && !err.contains("abcdef0123"),
            "{err}"
        );
        // The users of bad lines, and both lines of a name listed twice, are refused.
        assert_eq!(users.len(), 0);
        for name in ["ok", "broken", "weird"] {
            assert!(users.lookup(name).is_none(), "{name}");
        }
    }

    #[test]
    fn uid_and_gid_are_both_numbers_or_both_empty() {
        let users = parse(
            "a:{PLAIN}x:1000:100\nb:{PLAIN}x\nc:{PLAIN}x:1000:\nd:{PLAIN}x:me:me\ne:{PLAIN}y\n",
        );
        assert_eq!(users.lookup("a").unwrap().ids, Some((1000, 100)));
        assert_eq!(users.lookup("b").unwrap().ids, None);
        assert!(users.lookup("c").is_none() && users.lookup("d").is_none());
        let problems = users.problems().unwrap();
        assert!(
            problems.contains("/etc/users:3: user c: the uid and gid"),
            "{problems}"
        );
        assert!(problems.contains("/etc/users:4: user d:"), "{problems}");
        assert!(users.lookup("e").unwrap().credential.verify("y"));
    }

    #[test]
    fn a_home_is_required_when_the_template_uses_it() {
        let err = Users::parse("ann:{PLAIN}x:1:1::relative\n", Path::new("u"), true)
            .problems()
            .unwrap();
        assert!(
            err.contains("u:1: user ann:") && err.contains("home"),
            "{err}"
        );
        // Absolute on this platform (Windows: with a drive).
        let home = if cfg!(windows) {
            r"C:\home\ann"
        } else {
            "/home/ann"
        };
        let line = format!("ann:{{PLAIN}}x:1:1::{home}\n");
        assert!(Users::parse(&line, Path::new("u"), true)
            .problems()
            .is_none());
    }

    #[test]
    fn the_dummy_has_the_highest_cost() {
        // Most users are PLAIN: the dummy must still cost what the SHA512-CRYPT user costs.
        let text = format!("a:{{PLAIN}}x\nb:{SHA512}\nc:{{PLAIN}}y\ne:{{PLAIN}}z\nd:\n");
        let users = parse(&text);
        assert_eq!(users.credential_for(None).cost_class(), Some("$6$"));
        assert_eq!(
            users.credential_for(users.lookup("a")).cost_class(),
            Some("PLAIN")
        );
        assert!(parse("a:\n").credential_for(None).cost_class().is_none());
    }

    #[test]
    fn a_hash_above_the_cost_caps_is_a_bad_line_and_never_the_dummy() {
        let costly = SHA512.replacen("$6$", "$6$rounds=5000000$", 1);
        let users = parse(&format!("a:{{PLAIN}}x\nb:{costly}\n"));
        let problems = users.problems().unwrap();
        assert!(
            problems.starts_with("/etc/users:2: user b: SHA512-CRYPT hash with rounds 5000000 is above the limit of 1000000"),
            "{problems}"
        );
        assert!(users.lookup("b").is_none());
        assert_eq!(users.credential_for(None).cost_class(), Some("PLAIN"));
    }

    #[test]
    fn unsafe_names() {
        for name in [
            "", ".", "..", "a/b", "a..b", "x\ny", r"a\b", "c:", "a*", "a?", "a\"b", "<a>", "a|b",
            "ann.", "ann ", "\u{7f}",
        ] {
            assert!(!is_safe_user_name(name), "{name:?}");
        }
        for name in [
            "ann",
            "ann@example.org",
            ".ann",
            "a.b",
            "ann smith",
            "com10",
            "lpt0",
        ] {
            assert!(is_safe_user_name(name), "{name:?}");
        }
    }

    /// Device names are refused on Windows only; the rule itself is the same everywhere.
    #[test]
    fn windows_device_names() {
        for name in [
            "CON",
            "con",
            "Aux",
            "nul.txt",
            "NUL.tar.gz",
            "com1",
            "LPT9",
            "COM¹",
            "PRN .",
        ] {
            assert!(is_device_name(name), "{name:?}");
            assert_eq!(
                is_safe_user_name(name),
                cfg!(not(windows)) && !name.ends_with('.'),
                "{name:?}"
            );
        }
        for name in [
            "console",
            "com",
            "com10",
            "lpt0",
            "auxiliary",
            "xnul",
            "nul-x",
        ] {
            assert!(!is_device_name(name), "{name:?}");
        }
    }

    /// `%n` and `%d` are path components of their own in templates such as
    /// `C:\vmail\%d\%n` or `/var/vmail/%d/%n`, so the rules must hold for them too: a local
    /// part `.` names the domain's directory, one ending with a dot or a space is stripped by
    /// Windows to another user's, and `con` is a device there.
    #[test]
    fn the_local_part_and_the_domain_obey_the_name_rules() {
        for name in [
            ".@example.org",
            "ann.@example.org",
            "ann @example.org",
            " @example.org",
        ] {
            assert!(!is_safe_user_name(name), "{name:?}");
        }
        for name in [
            "con@example.org",
            "NUL@example.org",
            "com1@example.org",
            "ann@aux",
        ] {
            assert_eq!(is_safe_user_name(name), cfg!(not(windows)), "{name:?}");
        }
    }

    /// Windows (8 and later) also resolves `CONIN$` and `CONOUT$` as console devices
    /// (Python's `ntpath.isreserved` lists them with the others).
    #[test]
    fn the_console_devices_are_device_names() {
        for name in ["CONIN$", "conout$", "CONIN$.txt"] {
            assert!(is_device_name(name), "{name:?}");
        }
    }

    /// A home with a drive letter stays one field, with either separator; the fields after it
    /// keep their places. Without a drive, `:` splits as always.
    #[test]
    fn homes_with_a_drive_letter() {
        for (line, home, shell) in [
            (
                r"ann:{PLAIN}x:::Ann:C:\Users\ann:shell",
                r"C:\Users\ann",
                Some("shell"),
            ),
            ("ann:{PLAIN}x:::Ann:d:/mail/ann", "d:/mail/ann", None),
            (
                "ann:{PLAIN}x:::Ann:/home/ann:/bin/sh",
                "/home/ann",
                Some("/bin/sh"),
            ),
            ("ann:{PLAIN}x:::A:/home/ann", "/home/ann", None),
            ("ann:{PLAIN}x:::Ann:C:relative:x", "C", Some("relative")),
        ] {
            let fields = split_fields(line);
            assert_eq!(fields[HOME], home, "{line}");
            assert_eq!(fields.get(HOME + 1).copied(), shell, "{line}");
        }
        assert_eq!(split_fields("ann:x"), ["ann", "x"]);
        let users = Users::parse(
            "ann:{PLAIN}x:::Ann:C:/Users/ann:shell\n",
            Path::new("users"),
            true,
        );
        assert_eq!(
            users.problems().is_none(),
            cfg!(windows),
            "{:?}",
            users.problems()
        );
        if cfg!(windows) {
            assert_eq!(users.lookup("ann").unwrap().home, "C:/Users/ann");
        }
    }
}
