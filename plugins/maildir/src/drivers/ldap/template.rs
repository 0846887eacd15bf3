//! The `user_dn` and `filter` templates: `%u` is the login, escaped for where it lands, so
//! that no login can change the DN or the filter around it (`*)(uid=*` matches no one). The
//! escaping itself is ldap3's ([`dn_escape`], RFC 4514, and [`ldap_escape`], RFC 4515).

use ldap3::{dn_escape, ldap_escape};

/// Where a template's text goes, which decides how `%u` is escaped.
#[derive(Clone, Copy, Debug)]
pub enum Syntax {
    /// A distinguished name (RFC 4514).
    Dn,
    /// A search filter (RFC 4515).
    Filter,
}

/// A template with at least one `%u`, checked at init.
#[derive(Debug)]
pub struct Template {
    /// The text between the `%u`s.
    pieces: Vec<String>,
    syntax: Syntax,
}

impl Template {
    /// Checks `text`: it must name the user with `%u`, and a filter must parse.
    pub fn parse(text: &str, syntax: Syntax) -> Result<Self, String> {
        let pieces: Vec<String> = text.split("%u").map(str::to_string).collect();
        if pieces.len() < 2 {
            return Err(format!("{text:?} must contain %u (the login)"));
        }
        let template = Self { pieces, syntax };
        if let Syntax::Filter = syntax {
            ldap3::parse_filter(template.expand("user"))
                .map_err(|_| format!("{text:?} is not an LDAP search filter"))?;
        }
        Ok(template)
    }

    /// The text with every `%u` replaced by `login`, escaped.
    pub fn expand(&self, login: &str) -> String {
        let escaped = match self.syntax {
            Syntax::Dn => dn_escape(login),
            Syntax::Filter => ldap_escape(login),
        };
        self.pieces.join(&escaped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_cannot_change_the_dn_around_it() {
        let dn = Template::parse("uid=%u,ou=people,dc=example,dc=org", Syntax::Dn).unwrap();
        assert_eq!(dn.expand("ann"), "uid=ann,ou=people,dc=example,dc=org");
        assert_eq!(
            dn.expand("ann,ou=admins"),
            "uid=ann\\2cou\\3dadmins,ou=people,dc=example,dc=org"
        );
        assert_eq!(dn.expand("#x"), "uid=\\23x,ou=people,dc=example,dc=org");
        assert_eq!(
            dn.expand(" x\\+\" "),
            "uid=\\20x\\5c\\2b\\22\\20,ou=people,dc=example,dc=org"
        );
        assert_eq!(dn.expand("a\0b"), "uid=a\\00b,ou=people,dc=example,dc=org");
    }

    #[test]
    fn a_login_cannot_change_the_filter_around_it() {
        let filter =
            Template::parse("(&(objectClass=posixAccount)(uid=%u))", Syntax::Filter).unwrap();
        assert_eq!(
            filter.expand("ann"),
            "(&(objectClass=posixAccount)(uid=ann))"
        );
        assert_eq!(
            filter.expand("*)(uid=*"),
            "(&(objectClass=posixAccount)(uid=\\2a\\29\\28uid=\\2a))"
        );
        assert_eq!(
            filter.expand("a\\b\0"),
            "(&(objectClass=posixAccount)(uid=a\\5cb\\00))"
        );
        // Every %u is replaced.
        let both = Template::parse("(|(uid=%u)(mail=%u))", Syntax::Filter).unwrap();
        assert_eq!(both.expand("x*"), "(|(uid=x\\2a)(mail=x\\2a))");
    }

    #[test]
    fn templates_must_name_the_user_and_filters_must_parse() {
        let err = Template::parse("cn=admin,dc=example,dc=org", Syntax::Dn).unwrap_err();
        assert!(err.contains("must contain %u"), "{err}");
        let err = Template::parse("(uid=%u", Syntax::Filter).unwrap_err();
        assert!(err.contains("not an LDAP search filter"), "{err}");
    }
}
