//! What the queries return: the columns each may have, checked at startup against what the
//! database says the prepared query returns, and one row's values as text.

use super::super::UserFields;
use std::path::PathBuf;

/// Which query: the passdb's `password_query` or the userdb's `user_query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    PassDb,
    UserDb,
}

impl Purpose {
    /// The columns read; any other is refused at startup, so that a typo (`passwd`, `homedir`)
    /// cannot quietly leave a field unread.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Self::PassDb => &["password", "user"],
            Self::UserDb => &["home", "uid", "gid", "maildir"],
        }
    }
}

/// Checks a prepared query's column names (and that it has one parameter, the login).
pub fn check(purpose: Purpose, parameters: usize, names: &[&str]) -> Result<(), String> {
    if parameters != 1 {
        return Err(format!(
            "the query has {parameters} parameters; it needs exactly one, the login \
             ($1 for PostgreSQL, ?1 for SQLite)"
        ));
    }
    let known = purpose.columns();
    if let Some(unknown) = names.iter().find(|name| !known.contains(name)) {
        return Err(format!(
            "the query returns a column \"{unknown}\"; the columns read are {} (rename with AS)",
            known.join(", ")
        ));
    }
    for (index, name) in names.iter().enumerate() {
        if names[..index].contains(name) {
            return Err(format!("the query returns \"{name}\" twice"));
        }
    }
    let has = |column: &str| names.contains(&column);
    match purpose {
        Purpose::PassDb if !has("password") => {
            Err("the query returns no \"password\" column".to_string())
        }
        Purpose::UserDb if has("uid") != has("gid") => {
            Err("the query returns \"uid\" or \"gid\" without the other".to_string())
        }
        Purpose::UserDb if names.is_empty() => {
            Err("the query returns none of home, uid, gid, maildir".to_string())
        }
        _ => Ok(()),
    }
}

/// A query that finds two rows for one login is the query's mistake (a missing condition, a
/// name that is not unique), not a user: the login is refused as an outage, and logged.
pub const MORE_THAN_ONE_ROW: &str = "the query returned more than one row for the login";

/// One row: each column's name and value as text (`None` for NULL).
#[derive(Debug, Default)]
pub struct Row {
    values: Vec<(String, Option<String>)>,
}

impl Row {
    pub fn push(&mut self, name: &str, value: Option<String>) {
        self.values.push((name.to_string(), value));
    }

    /// The value of column `name`; `None` when it is NULL, empty or not returned.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(column, _)| column == name)
            .and_then(|(_, value)| value.as_deref())
            .filter(|value| !value.is_empty())
    }
}

/// The userdb's fields of `user` from its row. Errors say which column is wrong.
pub fn user_fields(row: &Row, user: &str) -> Result<UserFields, String> {
    let id = |column: &str| -> Result<Option<u32>, String> {
        row.get(column)
            .map(|value| {
                value.trim().parse().map_err(|_| {
                    format!("\"{column}\" is {value:?}, not a number from 0 to 4294967295")
                })
            })
            .transpose()
    };
    let ids = match (id("uid")?, id("gid")?) {
        (Some(uid), Some(gid)) => Some((uid, gid)),
        (None, None) => None,
        _ => return Err("\"uid\" and \"gid\" must both be set, or both NULL".to_string()),
    };
    Ok(UserFields {
        name: user.to_string(),
        home: row.get("home").unwrap_or_default().to_string(),
        ids,
        maildir: row.get("maildir").map(PathBuf::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_must_take_the_login_and_return_known_columns() {
        assert!(check(Purpose::PassDb, 1, &["user", "password"]).is_ok());
        assert!(check(Purpose::UserDb, 1, &["home", "uid", "gid", "maildir"]).is_ok());
        assert!(check(Purpose::UserDb, 1, &["maildir"]).is_ok());
        for (purpose, parameters, names, needle) in [
            (Purpose::PassDb, 0, &["password"][..], "0 parameters"),
            (Purpose::PassDb, 2, &["password"][..], "exactly one"),
            (Purpose::PassDb, 1, &["user"][..], "no \"password\""),
            (
                Purpose::PassDb,
                1,
                &["password", "passwd"][..],
                "\"passwd\"",
            ),
            (Purpose::PassDb, 1, &["password", "password"][..], "twice"),
            (
                Purpose::UserDb,
                1,
                &["home", "uid"][..],
                "without the other",
            ),
            (Purpose::UserDb, 1, &["homedir"][..], "\"homedir\""),
            (Purpose::UserDb, 1, &[][..], "none of"),
            (Purpose::UserDb, 1, &["password"][..], "\"password\""),
        ] {
            let err = check(purpose, parameters, names).unwrap_err();
            assert!(err.contains(needle), "{names:?}: {err}");
        }
    }

    fn row(values: &[(&str, Option<&str>)]) -> Row {
        let mut row = Row::default();
        for (name, value) in values {
            row.push(name, value.map(str::to_string));
        }
        row
    }

    #[test]
    fn user_fields_from_a_row() {
        let fields = user_fields(
            &row(&[
                ("home", Some("/home/ann")),
                ("uid", Some("1000")),
                ("gid", Some("100")),
                ("maildir", None),
            ]),
            "ann",
        )
        .unwrap();
        assert_eq!(fields.name, "ann");
        assert_eq!(fields.home, "/home/ann");
        assert_eq!(fields.ids, Some((1000, 100)));
        assert_eq!(fields.maildir, None);

        let fields = user_fields(&row(&[("maildir", Some("/var/vmail/ann"))]), "ann").unwrap();
        assert_eq!(fields.maildir, Some(PathBuf::from("/var/vmail/ann")));
        assert_eq!((fields.home.as_str(), fields.ids), ("", None));

        let err = user_fields(&row(&[("uid", Some("1")), ("gid", None)]), "a").unwrap_err();
        assert!(err.contains("both"), "{err}");
        let err = user_fields(&row(&[("uid", Some("-1")), ("gid", Some("1"))]), "a").unwrap_err();
        assert!(err.contains("\"uid\" is \"-1\""), "{err}");
    }

    #[test]
    fn null_and_empty_values_are_absent() {
        let row = row(&[("password", None), ("user", Some(""))]);
        assert_eq!(row.get("password"), None);
        assert_eq!(row.get("user"), None);
        assert_eq!(row.get("home"), None);
    }
}
