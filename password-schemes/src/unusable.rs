//! What no user may log in with, whatever is stored: refused by each plugin before its user
//! source is asked, so that no source (a passwd-file, a row, a directory bind, PAM) decides it.

/// Why `login` and `password` can never log in, or `None`: an empty password (an LDAP bind
/// takes it as an unauthenticated bind, which succeeds; a source may store an empty secret or a
/// hash of one), a password with a NUL (PAM's and checkpassword's C strings end there), an empty
/// login or one with control characters (no source stores such a name; an LDAP server refuses
/// it as a bad DN, which would look like an outage). `password` is `None` for APOP, whose
/// digest is checked by the source. It depends on nothing stored, so refusing it at once
/// reveals no user.
pub fn unusable_login(login: &str, password: Option<&str>) -> Option<&'static str> {
    if login.is_empty() || login.contains(char::is_control) {
        return Some("the login is empty or contains control characters");
    }
    match password {
        Some("") => Some("an empty password never logs in"),
        Some(password) if password.contains('\0') => Some("a password with a NUL never logs in"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_control_logins_and_empty_or_nul_passwords_are_unusable() {
        for (login, password) in [
            ("ann", Some("")),
            ("ann", Some("pass\0word")),
            ("", Some("password")),
            ("", None),
            ("ann\r", Some("password")),
            ("a\u{7f}nn", None),
        ] {
            assert!(
                unusable_login(login, password).is_some(),
                "{login:?} {password:?}"
            );
        }
        assert_eq!(unusable_login("ann", Some("password")), None);
        assert_eq!(unusable_login("ann@example.org", None), None);
        assert_eq!(unusable_login("Ann Other", Some(" ")), None);
    }
}
