use super::*;
use password_schemes::AuthCacheSettings;
use serde_json::json;

fn settings(value: serde_json::Value) -> Settings {
    serde_json::from_value(value).unwrap()
}

fn passdb_error(value: serde_json::Value) -> String {
    match LdapPassDb::open(&settings(value)) {
        Ok(_) => panic!("accepted"),
        Err(err) => err.message,
    }
}

fn userdb_error(value: serde_json::Value) -> String {
    match LdapUserDb::open(&settings(value)) {
        Ok(_) => panic!("accepted"),
        Err(err) => err.message,
    }
}

const URL: &str = "ldap://127.0.0.1:389";

#[test]
fn each_passdb_mode_is_chosen_by_its_keys() {
    let bind = LdapPassDb::open(&settings(
        json!({"url": URL, "user_dn": "uid=%u,ou=people,dc=example,dc=org"}),
    ))
    .unwrap();
    assert!(matches!(bind.mode, PassMode::BindDn(_)));
    let search =
        LdapPassDb::open(&settings(json!({"url": URL, "base": "dc=example,dc=org"}))).unwrap();
    let PassMode::SearchBind(found) = &search.mode else {
        panic!("{:?}", search.mode)
    };
    assert_eq!(found.filter.expand("ann"), "(uid=ann)");
    let hash = LdapPassDb::open(&settings(json!({"url": URL, "base": "dc=example,dc=org",
        "password_attr": "userPassword", "bind_dn": "cn=pop3", "bind_password": "s"})))
    .unwrap();
    assert!(matches!(hash.mode, PassMode::Hash { .. }));
    assert_eq!(hash.pool.timeout().as_secs(), 5);
    assert!(
        hash.describe().contains("pool 4, timeout 5s"),
        "{}",
        hash.describe()
    );
}

#[test]
fn config_errors_name_the_source_and_the_key() {
    for (value, needle) in [
        (json!({"url": URL}), "\"base\" is required"),
        (json!({"url": "http://x", "base": "o=x"}), "\"url\""),
        (json!({"url": "ldap://", "base": "o=x"}), "\"url\""),
        (json!({"url": "ldap://x/o=x", "base": "o=x"}), "no path"),
        (
            json!({"url": "ldaps://x", "starttls": true, "base": "o=x"}),
            "\"starttls\"",
        ),
        (
            json!({"url": URL, "ca_file": "/ca.pem", "base": "o=x"}),
            "\"ca_file\"",
        ),
        (
            json!({"url": "ldaps://x", "ca_file": "/nonexistent/ca.pem", "base": "o=x"}),
            "/nonexistent/ca.pem",
        ),
        (
            json!({"url": URL, "base": "o=x", "bind_dn": "cn=x"}),
            "\"bind_password\"",
        ),
        (
            json!({"url": URL, "base": "o=x", "bind_dn": "cn=x", "bind_password": ""}),
            "neither empty",
        ),
        (
            json!({"url": URL, "base": "o=x", "pool_size": 0}),
            "\"pool_size\"",
        ),
        (
            json!({"url": URL, "base": "o=x", "timeout_seconds": 0}),
            "\"timeout_seconds\"",
        ),
        (json!({"url": URL, "user_dn": "cn=admin"}), "\"user_dn\""),
        (
            json!({"url": URL, "user_dn": "uid=%u", "base": "o=x"}),
            "\"base\" is not used",
        ),
        (
            json!({"url": URL, "base": "o=x", "filter": "(uid=%u"}),
            "\"filter\"",
        ),
        (
            json!({"url": URL, "base": "o=x", "filter": "(uid=ann)"}),
            "\"filter\"",
        ),
        (
            json!({"url": URL, "base": "o=x", "password_attr": "user password"}),
            "\"password_attr\"",
        ),
        (
            json!({"url": URL, "base": "o=x", "home_attr": "home"}),
            "\"home_attr\" is not used",
        ),
    ] {
        let message = passdb_error(value.clone());
        assert!(
            message.starts_with("maildir config key \"passdb\": ") && message.contains(needle),
            "{value}: {message}"
        );
    }
    for (value, needle) in [
        (
            json!({"url": URL, "base": "o=x", "user_dn": "uid=%u"}),
            "\"user_dn\" is not used",
        ),
        (
            json!({"url": URL, "base": "o=x", "password_attr": "userPassword"}),
            "\"password_attr\"",
        ),
        (
            json!({"url": URL, "base": "o=x", "uid_attr": "uid number"}),
            "\"uid_attr\"",
        ),
        (json!({"url": URL}), "\"base\" is required"),
    ] {
        let message = userdb_error(value.clone());
        assert!(
            message.starts_with("maildir config key \"userdb\": ") && message.contains(needle),
            "{value}: {message}"
        );
    }
}

#[test]
fn the_config_never_shows_the_service_password() {
    let parsed = settings(json!({"url": URL, "base": "o=x", "bind_dn": "cn=x",
        "bind_password": "hunter2"}));
    assert!(!format!("{parsed:?}").contains("hunter2"));
}

#[test]
fn userdb_attributes_default_to_the_posix_schema() {
    let userdb = LdapUserDb::open(&settings(json!({"url": URL, "base": "o=x",
        "maildir_attr": "mailMessageStore"})))
    .unwrap();
    let attrs = &userdb.attrs;
    assert_eq!(
        (attrs.home.as_str(), attrs.uid.as_str(), attrs.gid.as_str()),
        ("homeDirectory", "uidNumber", "gidNumber")
    );
    assert_eq!(attrs.maildir.as_deref(), Some("mailMessageStore"));
}

fn entry(attrs: &[(&str, &str)]) -> SearchEntry {
    SearchEntry {
        dn: "uid=ann,o=x".into(),
        attrs: attrs
            .iter()
            .map(|(name, value)| (name.to_string(), vec![value.to_string()]))
            .collect(),
        bin_attrs: Default::default(),
    }
}

#[test]
fn userdb_fields_come_from_the_entry_and_are_checked() {
    let userdb = LdapUserDb::open(&settings(json!({"url": URL, "base": "o=x",
        "maildir_attr": "mailMessageStore"})))
    .unwrap();
    // Attribute names as the server spells them.
    let fields = userdb
        .fields(
            "ann",
            &entry(&[
                ("homedirectory", "/home/ann"),
                ("uidNumber", "1000"),
                ("gidNumber", "100"),
                ("mailMessageStore", "/var/mail/ann"),
            ]),
        )
        .unwrap();
    assert_eq!(fields.home, "/home/ann");
    assert_eq!(fields.ids, Some((1000, 100)));
    assert_eq!(fields.maildir, Some(PathBuf::from("/var/mail/ann")));
    let fields = userdb.fields("ann", &entry(&[])).unwrap();
    assert_eq!(
        (fields.home.as_str(), fields.ids, fields.maildir),
        ("", None, None)
    );
    let err = userdb
        .fields("ann", &entry(&[("uidNumber", "x"), ("gidNumber", "1")]))
        .unwrap_err();
    assert!(err.message.contains("not a number"), "{}", err.message);
    let err = userdb
        .fields("ann", &entry(&[("uidNumber", "1")]))
        .unwrap_err();
    assert!(err.message.contains("only one of"), "{}", err.message);
}

#[test]
fn a_stored_hash_is_verified_with_the_shared_schemes() {
    let off = AuthCache::off();
    let verify = |hash, password| verify_hash(&off, "uid=ann", hash, password);
    assert_eq!(verify("{PLAIN}secret", "secret"), Ok(Answer::Accepted));
    assert_eq!(verify("{PLAIN}secret", "Secret"), Ok(Answer::WrongPassword));
    let err = verify("{ROT13}frperg", "secret").unwrap_err();
    assert!(err.contains("ROT13") && !err.contains("frperg"), "{err}");
}

#[test]
fn through_the_cache_a_hash_is_remembered_until_it_changes() {
    let settings = AuthCacheSettings {
        size: 10,
        ttl_seconds: 600,
    };
    let cache = AuthCache::new(Some(&settings)).unwrap();
    let verify = |hash, password| verify_hash(&cache, "uid=ann", hash, password);
    assert_eq!(verify("{PLAIN}secret", "wrong"), Ok(Answer::WrongPassword));
    assert_eq!(verify("{PLAIN}secret", "wrong"), Ok(Answer::WrongPassword));
    assert_eq!(verify("{PLAIN}secret", "secret"), Ok(Answer::Accepted));
    assert_eq!(verify("{PLAIN}secret", "secret"), Ok(Answer::Remembered));
    assert_eq!(verify("{PLAIN}other", "secret"), Ok(Answer::WrongPassword));
    assert_eq!(verify("{PLAIN}other", "other"), Ok(Answer::Accepted));
    let other_entry = verify_hash(&cache, "uid=bob", "{PLAIN}secret", "secret");
    assert_eq!(
        other_entry,
        Ok(Answer::Accepted),
        "another entry is not remembered"
    );
}

#[test]
fn an_empty_password_is_refused_before_any_connection() {
    // Nothing listens on port 1: a bind would be a temporary failure, not a refusal.
    let connection = Connection {
        id: 1,
        peer: "127.0.0.1:1110".parse().unwrap(),
        local: "127.0.0.1:110".parse().unwrap(),
        tls: false,
    };
    for keys in [
        json!({"url": "ldap://127.0.0.1:1", "user_dn": "uid=%u,o=x"}),
        json!({"url": "ldap://127.0.0.1:1", "base": "o=x"}),
    ] {
        let passdb = LdapPassDb::open(&settings(keys)).unwrap();
        let err = passdb.verify("ann", "", &connection).unwrap_err();
        assert_eq!(err.code, PopError::auth("").code, "{}", err.message);
        let err = passdb.verify("ann", "x", &connection).unwrap_err();
        assert_eq!(err.code, PopError::temporary("").code, "{}", err.message);
    }
}
