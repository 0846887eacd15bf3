//! Dovecot's passwd-file: `user:password:uid:gid:gecos:home:shell:extra_fields`, one user a line,
//! trailing fields optional, blank lines and `#` comments skipped. Only the user name, the
//! password and the home directory matter here; uid, gid, shell and extra fields are ignored.

use crate::schemes::Credential;
use std::collections::HashMap;
use std::path::Path;

/// At most this many line errors are listed; a file that bad needs fixing, not a longer list.
const MAX_LISTED_ERRORS: usize = 20;

/// A user name that can go into a path without escaping its directory.
pub fn is_safe_user_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && !name.contains('/')
        && !name.contains("..")
        && !name.contains(char::is_control)
}

#[derive(Debug)]
pub struct User {
    pub name: String,
    pub credential: Credential,
    pub home: String,
}

/// The users of one version of the file.
#[derive(Debug)]
pub struct Users {
    by_name: HashMap<String, User>,
    dummy: Credential,
    /// Whether some user's password is stored in plain text (asked once per connection).
    any_plaintext: bool,
}

impl Users {
    /// Parses the file's text. `need_home` requires an absolute home on every line (the maildir
    /// template uses `%h`). The error lists every bad line as `file:line: problem`.
    pub fn parse(text: &str, source: &Path, need_home: bool) -> Result<Self, String> {
        let mut by_name: HashMap<String, User> = HashMap::new();
        let mut errors = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            // Dovecot also skips lines that start with ':' (no user name).
            if line.trim().is_empty() || line.starts_with('#') || line.starts_with(':') {
                continue;
            }
            match parse_line(line, need_home) {
                Ok(user) => {
                    if by_name.contains_key(&user.name) {
                        errors.push((index + 1, format!("user {} is listed twice", user.name)));
                    } else {
                        by_name.insert(user.name.clone(), user);
                    }
                }
                Err(problem) => errors.push((index + 1, problem)),
            }
        }
        if !errors.is_empty() {
            let shown = errors.len().min(MAX_LISTED_ERRORS);
            let mut report: Vec<String> = errors[..shown]
                .iter()
                .map(|(line, problem)| format!("{}:{line}: {problem}", source.display()))
                .collect();
            if errors.len() > shown {
                report.push(format!("... and {} more bad lines", errors.len() - shown));
            }
            return Err(report.join("\n"));
        }
        let dummy = pick_dummy(by_name.values());
        let any_plaintext = by_name
            .values()
            .any(|user| user.credential.plaintext().is_some());
        Ok(Self {
            by_name,
            dummy,
            any_plaintext,
        })
    }

    /// The user a login name refers to: the exact name, or else its lower-case form (Dovecot's
    /// default `auth_username_format = %Lu` lower-cases logins, ASCII only).
    pub fn lookup(&self, login: &str) -> Option<&User> {
        self.by_name
            .get(login)
            .or_else(|| self.by_name.get(&login.to_ascii_lowercase()))
    }

    /// What to verify a password against: the user's credential or, for an unknown user, a
    /// dummy of the cost class most users share (a copy of one of theirs), so that an unknown
    /// user costs as much as a wrong password and logins reveal no user names. The caller
    /// rejects an unknown user whatever the dummy says.
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

fn parse_line(line: &str, need_home: bool) -> Result<User, String> {
    let fields: Vec<&str> = line.split(':').collect();
    let name = fields[0];
    if !is_safe_user_name(name) {
        return Err(format!(
            "user name {name:?} cannot be served: it contains '/', '..' or control characters"
        ));
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
    let home = fields.get(5).copied().unwrap_or_default();
    if need_home && !home.starts_with('/') {
        return Err(format!("user {name}: the maildir template uses %h but the home field (6th) is not an absolute path"));
    }
    Ok(User {
        name: name.to_string(),
        credential,
        home: home.to_string(),
    })
}

/// The credential of one user of the most common cost class.
fn pick_dummy<'a>(users: impl Iterator<Item = &'a User>) -> Credential {
    let mut classes: HashMap<&str, (usize, &Credential)> = HashMap::new();
    for user in users {
        if let Some(class) = user.credential.cost_class() {
            classes.entry(class).or_insert((0, &user.credential)).0 += 1;
        }
    }
    classes
        .into_values()
        .max_by_key(|(count, _)| *count)
        .map_or(Credential::Disabled, |(_, credential)| credential.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA512: &str = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";

    fn parse(text: &str) -> Result<Users, String> {
        Users::parse(text, Path::new("/etc/users"), false)
    }

    #[test]
    fn dovecot_lines_with_and_without_trailing_fields() {
        let text = format!(
            "# comment\n\n:skipped\nann:{{PLAIN}}pw:1000:1000::/home/ann::\r\nbob:{SHA512}\ncarl\nMixed:{{PLAIN}}x:1:1:Gecos, With Spaces:/home/m:/bin/sh:userdb_quota_rule=*:storage=1G\n"
        );
        let users = parse(&text).unwrap();
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
        let err = parse(&text).unwrap_err();
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
    }

    #[test]
    fn a_home_is_required_when_the_template_uses_it() {
        let err = Users::parse("ann:{PLAIN}x:1:1::relative\n", Path::new("u"), true).unwrap_err();
        assert!(
            err.contains("u:1: user ann:") && err.contains("home"),
            "{err}"
        );
        assert!(Users::parse("ann:{PLAIN}x:1:1::/home/ann\n", Path::new("u"), true).is_ok());
    }

    #[test]
    fn the_dummy_has_the_most_common_cost() {
        let text = format!("a:{{PLAIN}}x\nb:{SHA512}\nc:{SHA512}\nd:\n");
        let users = parse(&text).unwrap();
        assert_eq!(users.credential_for(None).cost_class(), Some("$6$"));
        assert_eq!(
            users.credential_for(users.lookup("a")).cost_class(),
            Some("PLAIN")
        );
        assert!(parse("a:\n")
            .unwrap()
            .credential_for(None)
            .cost_class()
            .is_none());
    }

    #[test]
    fn unsafe_names() {
        for name in ["", ".", "..", "a/b", "a..b", "x\ny"] {
            assert!(!is_safe_user_name(name), "{name:?}");
        }
        for name in ["ann", "ann@example.org", ".ann", "a.b"] {
            assert!(is_safe_user_name(name), "{name:?}");
        }
    }
}
