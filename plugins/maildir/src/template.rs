//! The `"maildir"` template: where a user's mail lives.
//!
//! The template is checked once, at init, so that no user name can steer the path: it must be
//! absolute (or start at the passwd-file home), have no `.`/`..` components of its own, name
//! the user, and keep user-chosen text out of the first path component (with `/%u` a user
//! called `etc` would be served `/etc`). User names themselves never contain `/` or `..`
//! (see [`crate::passwd::is_safe_user_name`]), so a substituted name stays one path component.
//!
//! On Windows an absolute template starts at a drive (`C:\vmail\%u` or `C:/vmail/%u`), `\`
//! and `/` both separate components, and a home (`%h`) must be absolute there too
//! (`C:\Users\ann`); a root without a drive (`/var/mail/%u`) is refused, as Windows would
//! take it on whichever drive is current.

use std::path::{is_separator, Path, PathBuf};

/// The absolute root that `text` starts with: `/`, or on Windows a drive's `C:\` or `C:/`.
/// What follows it is the top-level directory, which no user may choose.
#[cfg(not(windows))]
fn absolute_root(text: &str) -> Option<&str> {
    text.get(..1).filter(|root| *root == "/")
}

#[cfg(windows)]
fn absolute_root(text: &str) -> Option<&str> {
    let root = text.get(..3)?;
    let [drive, colon, separator] = root.as_bytes() else {
        return None;
    };
    (drive.is_ascii_alphabetic() && *colon == b':' && is_separator(char::from(*separator)))
        .then_some(root)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    /// `%u`: the whole user name.
    User,
    /// `%n`: the local part (before the first `@`).
    Local,
    /// `%d`: the domain (after the first `@`).
    Domain,
    /// `%h`: the home directory from the userdb.
    Home,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Var(Var),
}

/// A parsed and checked maildir template.
#[derive(Debug)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(template: &str) -> Result<Self, String> {
        let bad = |why: &str| Err(format!("maildir template \"{template}\": {why}"));
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        if let Some(after) = rest.strip_prefix("~/") {
            parts.push(Part::Var(Var::Home));
            text.push('/');
            rest = after;
        }
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                text.push(c);
                continue;
            }
            let var = match chars.next() {
                Some('%') => {
                    text.push('%');
                    continue;
                }
                Some('u') => Var::User,
                Some('n') => Var::Local,
                Some('d') => Var::Domain,
                Some('h') => Var::Home,
                Some(other) => {
                    return bad(&format!(
                        "unknown variable %{other} (use %u, %n, %d, %h or %%)"
                    ))
                }
                None => return bad("ends in a lone %"),
            };
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Var(var));
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        let parsed = Self { parts };
        match parsed.parts.first() {
            Some(Part::Var(Var::Home)) => {}
            Some(Part::Text(t)) if absolute_root(t).is_some() => {}
            _ if cfg!(windows) => {
                return bad("must be an absolute path with a drive (C:\\...) or start with %h")
            }
            _ => return bad("must be an absolute path or start with %h"),
        }
        if !parsed
            .parts
            .iter()
            .any(|p| matches!(p, Part::Var(Var::User | Var::Local | Var::Home)))
        {
            return bad("must contain %u, %n or %h, or every user would share one maildir");
        }
        // Render the shape with markers in place of the variables to check the components.
        let shape: String = parsed
            .parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Var(Var::Home) => "/home",
                Part::Var(_) => "\u{1}",
            })
            .collect();
        let below_root = &shape[absolute_root(&shape).map_or(0, str::len)..];
        let mut components = below_root.split(is_separator).filter(|c| !c.is_empty());
        if components.clone().any(|c| c == "." || c == "..") {
            return bad("must not contain . or .. components");
        }
        if components
            .next()
            .is_some_and(|first| first.contains('\u{1}'))
        {
            return bad("a user name may not choose the top-level directory; put %u, %n or %d below a fixed directory");
        }
        Ok(parsed)
    }

    /// Whether the template needs the userdb's home (`%h`), which must then be absolute.
    pub fn uses_home(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var(Var::Home)))
    }

    /// The maildir of `user` (a name already checked to be safe) with home directory `home`.
    pub fn expand(&self, user: &str, home: &str) -> Result<PathBuf, String> {
        let (local, domain) = match user.split_once('@') {
            Some((local, domain)) => (local, domain),
            None => (user, ""),
        };
        let mut path = String::new();
        for part in &self.parts {
            let (name, value) = match part {
                Part::Text(text) => {
                    path.push_str(text);
                    continue;
                }
                Part::Var(Var::User) => ("%u", user),
                Part::Var(Var::Local) => ("%n", local),
                Part::Var(Var::Domain) => ("%d", domain),
                Part::Var(Var::Home) if !Path::new(home).is_absolute() => {
                    return Err(format!(
                        "user {user} has no absolute home for the maildir template's %h"
                    ))
                }
                Part::Var(Var::Home) => ("%h", home.trim_end_matches(is_separator)),
            };
            if value.is_empty() && name != "%h" {
                return Err(format!(
                    "user {user} has an empty {name} for the maildir template"
                ));
            }
            path.push_str(value);
        }
        Ok(PathBuf::from(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An absolute path on this platform: `path` as it is, on Windows on drive C:.
    fn abs(path: &str) -> String {
        match path.strip_prefix('/') {
            Some(rest) if cfg!(windows) => format!("C:/{rest}"),
            _ => path.to_string(),
        }
    }

    /// The expansion, with the template's and the home's absolute paths made this platform's.
    fn expand(template: &str, user: &str, home: &str) -> String {
        Template::parse(&abs(template))
            .unwrap()
            .expand(user, &abs(home))
            .unwrap()
            .display()
            .to_string()
    }

    #[test]
    fn variables_are_substituted() {
        for (template, user, home, path) in [
            ("%h/Maildir", "bob", "/home/bob", "/home/bob/Maildir"),
            ("%h/Maildir", "bob", "/home/bob/", "/home/bob/Maildir"),
            ("~/Mail", "bob", "/home/bob", "/home/bob/Mail"),
            (
                "/var/vmail/%d/%n",
                "ann@example.org",
                "",
                "/var/vmail/example.org/ann",
            ),
            (
                "/var/mail/%u/100%%",
                "ann@example.org",
                "",
                "/var/mail/ann@example.org/100%",
            ),
        ] {
            assert_eq!(expand(template, user, home), abs(path), "{template}");
        }
    }

    #[test]
    fn home_use_is_reported() {
        assert!(Template::parse("%h/Maildir").unwrap().uses_home());
        assert!(!Template::parse(&abs("/var/mail/%u")).unwrap().uses_home());
    }

    #[test]
    fn an_empty_domain_is_an_error_not_a_shared_directory() {
        let err = Template::parse(&abs("/var/vmail/%d/%n"))
            .unwrap()
            .expand("ann", "")
            .unwrap_err();
        assert!(err.contains("%d"), "{err}");
        let err = Template::parse("%h/Maildir")
            .unwrap()
            .expand("ann", "relative")
            .unwrap_err();
        assert!(err.contains("absolute home"), "{err}");
    }

    #[test]
    fn templates_that_let_a_name_escape_are_refused() {
        for (template, why) in [
            ("Maildir/%u", "absolute"),
            ("%u/Maildir", "absolute"),
            ("/%u", "top-level"),
            ("/%d/%n", "top-level"),
            ("/x%u/Maildir", "top-level"),
            ("/var/mail/../%u", ".."),
            ("%h/../%u", ".."),
            ("/var/mail/./%u", ".."),
            ("/var/mail/shared", "share"),
            ("/var/mail/%d", "share"),
            ("/var/mail/%x", "unknown variable %x"),
            ("/var/mail/%u%", "lone %"),
            ("", "absolute"),
        ] {
            let err = Template::parse(&abs(template)).unwrap_err();
            assert!(err.contains(why), "{template}: {err}");
        }
    }

    /// A local part `.` would make `%n` the domain's directory, which holds the other users'
    /// maildirs: the name rules refuse it.
    #[test]
    fn a_local_part_dot_is_not_the_domain_directory() {
        let user = ".@example.org";
        let path = Template::parse(&abs("/var/vmail/%d/%n"))
            .unwrap()
            .expand(user, "")
            .unwrap();
        let domain = abs("/var/vmail/example.org");
        assert!(
            !(crate::passwd::is_safe_user_name(user)
                && path.components().eq(Path::new(&domain).components())),
            "{user} is served {}",
            path.display()
        );
    }

    /// Windows: no user in `users` that the name rules let in reaches `owner`'s maildir
    /// under `template` (below a temporary directory).
    #[cfg(windows)]
    fn assert_no_other_reaches(template: &str, owner: &str, users: &[&str]) {
        let tmp = tempfile::tempdir().unwrap();
        let template = Template::parse(&format!(r"{}\{template}", tmp.path().display())).unwrap();
        let theirs = template.expand(owner, "").unwrap();
        std::fs::create_dir_all(&theirs).unwrap();
        let theirs = std::fs::canonicalize(&theirs).unwrap();
        for user in users {
            let path = template.expand(user, "").unwrap();
            let reached = std::fs::canonicalize(&path).ok();
            assert!(
                !(crate::passwd::is_safe_user_name(user) && reached.as_ref() == Some(&theirs)),
                "{user} ({}) is served {}",
                path.display(),
                theirs.display()
            );
        }
    }

    /// Windows strips a trailing dot from a path component and trailing dots and spaces from
    /// the last one, so `ann.@example.org` and `ann @example.org` would be served the maildir
    /// of `ann@example.org`: the name rules refuse them.
    #[cfg(windows)]
    #[test]
    fn a_trailing_dot_or_space_in_the_local_part_is_not_another_maildir() {
        for template in [r"%d\%n", r"%d\%n\Maildir"] {
            let users = ["ann.@example.org", "ann @example.org", "ann. @example.org"];
            assert_no_other_reaches(template, "ann@example.org", &users);
        }
    }

    /// An 8.3 short name (`VERYLO~1` on NTFS where short names are made, as on C: by default;
    /// `VERY~W0H` under Wine) names the same directory as the long one, so a user whose name
    /// (or `%n`, `%d`) is another's short name would be served that user's maildir: on
    /// Windows the name rules refuse `~`.
    #[cfg(windows)]
    #[test]
    fn a_short_name_is_not_another_maildir() {
        let users = ["very~w0h@example.org", "verylo~1@example.org"];
        assert_no_other_reaches(r"%d\%n", "verylongusername@example.org", &users);
    }

    /// Windows: a drive with either separator, homes with a drive; a root without a drive
    /// or a drive without a root is not absolute, and the top-level directory below a drive
    /// is as fixed as below `/`.
    #[cfg(windows)]
    #[test]
    fn windows_paths_have_a_drive_and_either_separator() {
        let expand = |template: &str, home: &str| {
            Template::parse(template)
                .unwrap()
                .expand("ann", home)
                .map(|path| path.display().to_string())
        };
        assert_eq!(expand(r"C:\vmail\%u", "").unwrap(), r"C:\vmail\ann");
        assert_eq!(
            expand("d:/vmail/%u/Maildir", "").unwrap(),
            "d:/vmail/ann/Maildir"
        );
        assert_eq!(
            expand(r"%h\Maildir", r"C:\Users\ann\").unwrap(),
            r"C:\Users\ann\Maildir"
        );
        assert_eq!(
            expand("~/Maildir", "C:/Users/ann").unwrap(),
            "C:/Users/ann/Maildir"
        );
        for home in [r"\Users\ann", "/home/ann", "C:Users", ""] {
            let err = expand("%h/Maildir", home).unwrap_err();
            assert!(err.contains("absolute home"), "{home}: {err}");
        }
        for (template, why) in [
            ("/var/mail/%u", "drive"),
            ("C:%u/Maildir", "drive"),
            (r"C:\%u", "top-level"),
            ("C:/%u", "top-level"),
            (r"C:\vmail\..\%u", ".."),
        ] {
            let err = Template::parse(template).unwrap_err();
            assert!(err.contains(why), "{template}: {err}");
        }
    }
}
