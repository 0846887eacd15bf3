//! Who logs in: one user, a pattern (`user%d` with `--users N`), or a file. Benchmarks that run
//! sessions at once give each its own user, so that a maildrop lock does not serialise them.

use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct UserArgs {
    /// One user name.
    #[arg(long, conflicts_with_all = ["users_file", "user_pattern"])]
    pub user: Option<String>,
    /// Users, one a line: a Dovecot passwd-file (`user:{PLAIN}password:...`; other schemes
    /// use --pass) or `user [password]`; `#` starts a comment.
    #[arg(long, conflicts_with = "user_pattern")]
    pub users_file: Option<PathBuf>,
    #[command(flatten)]
    pub pattern: UserPattern,
}

/// Users made from a pattern and one password: the users `pop3bench corpus` writes, and the
/// users a benchmark logs in as.
#[derive(clap::Args, Clone, Debug)]
pub struct UserPattern {
    /// User names made from a pattern: `%d` becomes --user-start, --user-start + 1, ...
    #[arg(long)]
    pub user_pattern: Option<String>,
    /// How many users the pattern makes (in a benchmark, also the most taken from
    /// --users-file).
    #[arg(long)]
    pub users: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub user_start: usize,
    /// The password of every user (in a benchmark, of each that has none in --users-file).
    #[arg(long, default_value = "password")]
    pub pass: String,
}

impl UserPattern {
    /// The names the pattern makes; `None` without --user-pattern.
    pub fn names(&self) -> Result<Option<Vec<String>>, String> {
        let Some(pattern) = &self.user_pattern else {
            return Ok(None);
        };
        if !pattern.contains("%d") {
            return Err(format!("--user-pattern {pattern:?} has no %d"));
        }
        let count = self.users.ok_or("--user-pattern needs --users N")?;
        let numbers = self.user_start..self.user_start + count;
        Ok(Some(
            numbers
                .map(|i| pattern.replace("%d", &i.to_string()))
                .collect(),
        ))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub pass: String,
}

impl UserArgs {
    pub fn load(&self) -> Result<Vec<Credentials>, String> {
        let with_pass = |user: &str| Credentials {
            user: user.to_string(),
            pass: self.pattern.pass.clone(),
        };
        let users: Vec<Credentials> = if let Some(user) = &self.user {
            vec![with_pass(user)]
        } else if let Some(names) = self.pattern.names()? {
            names.iter().map(|name| with_pass(name)).collect()
        } else if let Some(path) = &self.users_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let all = parse_users(&text, &self.pattern.pass);
            all.into_iter()
                .take(self.pattern.users.unwrap_or(usize::MAX))
                .collect()
        } else {
            return Err("say who logs in: --user, --user-pattern or --users-file".into());
        };
        if users.is_empty() {
            return Err("no users".into());
        }
        Ok(users)
    }
}

/// Users of a passwd-file or of `user [password]` lines.
fn parse_users(text: &str, default_pass: &str) -> Vec<Credentials> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (user, pass) = if line.contains(':') {
                let mut fields = line.split(':');
                let user = fields.next()?;
                let hash = fields.next().unwrap_or("");
                let plain = ["{PLAIN}", "{CLEARTEXT}"]
                    .iter()
                    .find_map(|scheme| hash.strip_prefix(scheme));
                (user, plain.unwrap_or(default_pass))
            } else {
                let mut words = line.split_whitespace();
                let user = words.next()?;
                (user, words.next().unwrap_or(default_pass))
            };
            Some(Credentials {
                user: user.to_string(),
                pass: pass.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_file_and_plain_lines() {
        let users = parse_users(
            "# comment\nu1:{PLAIN}pw1:65534:65534::/h/u1::\nu2:{SHA512-CRYPT}$6$x:1:1\n\
             u3 pw3\nu4\n",
            "dflt",
        );
        let pairs: Vec<(&str, &str)> = users
            .iter()
            .map(|c| (c.user.as_str(), c.pass.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("u1", "pw1"), ("u2", "dflt"), ("u3", "pw3"), ("u4", "dflt")]
        );
    }

    #[test]
    fn patterns_count_from_the_start() {
        let args = UserArgs {
            user: None,
            users_file: None,
            pattern: UserPattern {
                user_pattern: Some("bench%d".into()),
                users: Some(3),
                user_start: 5,
                pass: "p".into(),
            },
        };
        let names: Vec<String> = args.load().unwrap().into_iter().map(|c| c.user).collect();
        assert_eq!(names, ["bench5", "bench6", "bench7"]);
    }
}
