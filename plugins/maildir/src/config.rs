//! The `--plugin-config` JSON: parsed strictly (unknown keys are errors, so a typo such as
//! `"no_flag_update"` cannot silently leave a default in force), with errors that name the key.

#[cfg(unix)]
use crate::drivers::{checkpassword, system};
use crate::drivers::{ldap, passwd_file, sql};
use password_schemes::AuthCacheSettings;
use pop3_plugin_api::PopError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;

/// Where the UIDLs come from (see the `uidl` key in [`HELP`]).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UidlMode {
    /// Dovecot's UIDLs when the maildir has a `dovecot-uidlist`, else the file names.
    #[default]
    Auto,
    /// Always the base file name (what Courier and most maildir POP3 servers serve).
    Filename,
    /// Dovecot's UIDLs; messages the uidlist does not know fall back to the file name.
    Dovecot,
}

/// Who may log in: the `passdb` key, one variant per driver (see [`crate::drivers`]).
#[derive(Debug)]
pub enum PassDbConfig {
    PasswdFile(passwd_file::Settings),
    #[cfg(unix)]
    Checkpassword(checkpassword::Settings),
    #[cfg(unix)]
    System(system::PassDbSettings),
    // Boxed: its many keys would make every variant as large.
    Ldap(Box<ldap::Settings>),
    Sql(sql::Settings),
}

/// Where a user's mail is and as whom: the `userdb` key, one variant per driver.
#[derive(Debug)]
pub enum UserDbConfig {
    PasswdFile(passwd_file::Settings),
    #[cfg(unix)]
    System(system::UserDbSettings),
    // Boxed: its many keys would make every variant as large.
    Ldap(Box<ldap::Settings>),
    Sql(sql::Settings),
}

impl PassDbConfig {
    /// The `passdb` object: its `"driver"` chooses the settings read from the other keys.
    fn from_value(value: Value) -> Result<Self, PopError> {
        const KEY: &str = "passdb";
        let (driver, rest) = split_driver(KEY, value)?;
        Ok(match driver.as_str() {
            "passwd-file" => Self::PasswdFile(driver_settings(KEY, rest)?),
            #[cfg(unix)]
            "checkpassword" => Self::Checkpassword(driver_settings(KEY, rest)?),
            #[cfg(unix)]
            "system" => Self::System(driver_settings(KEY, rest)?),
            #[cfg(not(unix))]
            "checkpassword" | "system" => return Err(unix_only(KEY, &driver)),
            "ldap" => Self::Ldap(driver_settings(KEY, rest)?),
            "sql" => Self::Sql(driver_settings(KEY, rest)?),
            _ => return Err(unknown_driver(KEY, &driver, &PASSDB_DRIVERS)),
        })
    }
}

impl UserDbConfig {
    /// The `userdb` object: its `"driver"` chooses the settings read from the other keys.
    fn from_value(value: Value) -> Result<Self, PopError> {
        const KEY: &str = "userdb";
        let (driver, rest) = split_driver(KEY, value)?;
        Ok(match driver.as_str() {
            "passwd-file" => Self::PasswdFile(driver_settings(KEY, rest)?),
            #[cfg(unix)]
            "system" => Self::System(driver_settings(KEY, rest)?),
            #[cfg(not(unix))]
            "system" => return Err(unix_only(KEY, &driver)),
            "ldap" => Self::Ldap(driver_settings(KEY, rest)?),
            "sql" => Self::Sql(driver_settings(KEY, rest)?),
            _ => return Err(unknown_driver(KEY, &driver, &USERDB_DRIVERS)),
        })
    }
}

const PASSDB_DRIVERS: [&str; 5] = ["passwd-file", "checkpassword", "system", "ldap", "sql"];
const USERDB_DRIVERS: [&str; 4] = ["passwd-file", "system", "ldap", "sql"];

/// A config error: the key's path (`passdb.timeout_seconds`), or the whole config for `.`.
fn config_error(path: &str, problem: impl std::fmt::Display) -> PopError {
    PopError::permanent(match path {
        "." => format!("maildir config: {problem}"),
        path => format!("maildir config key \"{path}\": {problem}"),
    })
}

/// The object under `key` split into its `"driver"` and the driver's own keys.
fn split_driver(key: &str, value: Value) -> Result<(String, Value), PopError> {
    let Value::Object(mut object) = value else {
        return Err(config_error(key, "expected an object with a \"driver\""));
    };
    match object.remove("driver") {
        Some(Value::String(driver)) => Ok((driver, Value::Object(object))),
        Some(other) => Err(config_error(
            &format!("{key}.driver"),
            format!("expected a string, found {other}"),
        )),
        None => Err(config_error(key, "missing field `driver`")),
    }
}

/// A driver's settings, read so that an error names the key inside the object
/// (`passdb.timeout_seconds`): serde's internally tagged enums buffer the object and lose the
/// path, so the driver is picked by hand ([`split_driver`]) and its keys read here.
fn driver_settings<T: DeserializeOwned>(key: &str, keys: Value) -> Result<T, PopError> {
    serde_path_to_error::deserialize(keys).map_err(|err| {
        let path = match err.path().to_string() {
            inner if inner == "." => key.to_string(),
            inner => format!("{key}.{inner}"),
        };
        config_error(&path, err.inner())
    })
}

/// A driver that needs what only Unix has: PAM and getpwnam (`system`), a program reading
/// file descriptor 3 (`checkpassword`).
#[cfg(not(unix))]
fn unix_only(key: &str, driver: &str) -> PopError {
    PopError::permanent(format!(
        "maildir config: {key}.driver {driver}: Unix only (on this system: passwd-file, ldap \
         or sql)"
    ))
}

fn unknown_driver(key: &str, driver: &str, known: &[&str]) -> PopError {
    config_error(
        &format!("{key}.driver"),
        format!(
            "unknown driver {driver:?}, expected one of {}",
            known.join(", ")
        ),
    )
}

/// The keys as written; [`Config::parse`] fills in the user sources.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    passwd_file: Option<PathBuf>,
    /// Read by [`PassDbConfig::from_value`] and [`UserDbConfig::from_value`].
    passdb: Option<Value>,
    userdb: Option<Value>,
    #[serde(default = "default_maildir")]
    maildir: String,
    #[serde(default)]
    create: bool,
    #[serde(default)]
    uidl: UidlMode,
    #[serde(default)]
    no_flag_updates: bool,
    #[serde(default = "enabled")]
    size_cache: bool,
    #[serde(default)]
    virtual_users: bool,
    #[serde(default = "default_first_valid_uid")]
    first_valid_uid: u32,
    #[serde(default = "default_first_valid_gid")]
    first_valid_gid: u32,
    auth_cache: Option<AuthCacheSettings>,
}

/// The plugin configuration, one field per documented key; `passwd_file` is the default of
/// both user sources.
#[derive(Debug)]
pub struct Config {
    pub passdb: PassDbConfig,
    pub userdb: UserDbConfig,
    pub maildir: String,
    pub create: bool,
    pub uidl: UidlMode,
    pub no_flag_updates: bool,
    pub size_cache: bool,
    pub virtual_users: bool,
    pub first_valid: FirstValidIds,
    /// The authentication cache; off when `None`.
    pub auth_cache: Option<AuthCacheSettings>,
}

/// The least uid and gid a userdb may give a user (Dovecot's `first_valid_uid` and
/// `first_valid_gid`, with its defaults): a userdb row with uid 0, or a system account such
/// as `root` that PAM accepts, must never be served with root's rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstValidIds {
    pub uid: u32,
    pub gid: u32,
}

fn default_maildir() -> String {
    "%h/Maildir".to_string()
}

fn default_first_valid_uid() -> u32 {
    500
}

fn default_first_valid_gid() -> u32 {
    1
}

fn enabled() -> bool {
    true
}

/// What `pop3host --describe` shows for this plugin.
pub const HELP: &str = r#"JSON object; keys:
  "passwd_file"      (string) users in Dovecot's passwd-file format:
                     user:{SCHEME}hash:uid:gid:gecos:home:shell:extra (trailing fields optional).
                     Schemes: PLAIN (CLEARTEXT), CRYPT, SHA512-CRYPT, SHA256-CRYPT, MD5-CRYPT (MD5),
                     BLF-CRYPT, ARGON2I, ARGON2ID, SHA, SSHA, SHA256, SSHA256, SHA512, SSHA512; a hash
                     without {SCHEME} is read by its $id$. Costs are capped (a hash above a cap
                     is a bad line): bcrypt cost <= 15, SHA-crypt rounds <= 1000000, Argon2
                     m <= 262144 KiB (256 MiB), t <= 16, p <= 16. An empty field or an empty
                     {PLAIN} lets nobody in. Re-read when it changes; APOP works for PLAIN
                     users. The passdb and the userdb when these keys are not given: required
                     unless both are. A home with a drive letter is written as it is
                     (ann:{PLAIN}x:::Ann:C:\Users\ann:): a one-letter field followed by one that
                     starts with \ or / is one home. User names with \ / : * ? " < > |,
                     control characters or .., or ending in a dot or space (and on Windows
                     CON, PRN, AUX, NUL, CONIN$, CONOUT$, COM1-9, LPT1-9) are refused
                     ([AUTH]), and so is a name whose part before or after the first @ (%n,
                     %d) is one of those; on Windows also one with ~ (an 8.3 short name
                     such as VERYLO~1 names another directory).
  "passdb"           (object, default {"driver": "passwd-file", "path": passwd_file}) who may log in,
                     as Dovecot's passdb. An empty password, one with a NUL, and an empty
                     login or one with control characters are refused ([AUTH]) before any
                     driver is asked; "timeout_seconds", where a driver has it, is 1 to 3600.
                     "driver" chooses:
                     {"driver": "passwd-file", "path": "/etc/dovecot/users"}
                       the password field of a passwd-file (as "passwd_file" above). An unknown
                       user costs what the costliest user's password check costs.
                     {"driver": "checkpassword", "program": "/usr/local/bin/checkpassword",
                      "timeout_seconds": 5, "max_running": 4}
                       qmail's checkpassword interface: runs `program /bin/true` with
                       user\0password\0timestamp\0 on file descriptor 3; exit 0 accepts, 1 refuses
                       ([AUTH]), 111 or anything else is a temporary failure ([SYS/TEMP]), as is a
                       run past timeout_seconds (default 5; the program's process group is
                       killed). At most max_running (default 4) runs at once; a login waits for a
                       turn within the same timeout. The program gets no other descriptors
                       (stdin, stdout, stderr are /dev/null) and only PATH, SERVICE=pop3,
                       TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP and TCPLOCALPORT in its
                       environment. The program decides what an unknown user costs. No APOP.
                     checkpassword and system are Unix only (on Windows a startup error).
                     {"driver": "system", "pam_service": "pop3host", "timeout_seconds": 5,
                      "max_running": 4}
                       PAM with the service pam_service (default "pop3host": /etc/pam.d/pop3host
                       says which modules check the password), auth then account. A check that
                       takes longer than timeout_seconds (default 5) is [SYS/TEMP], as is a PAM
                       error that is not a refusal (a module's source unavailable); at most
                       max_running (default 4) checks at once, a check past its deadline
                       keeping its place until PAM returns. Every [AUTH] refusal, an unknown
                       user (PAM's USER_UNKNOWN) and a wrong password alike, is answered after
                       the slowest of the last 32 checks of known users (at least 200 ms, at
                       most timeout_seconds). PAM's prompts get the login and the password;
                       only PAM's own messages are logged (debug). No APOP.
                     {"driver": "ldap", "url": "ldaps://ldap.example.org",
                      "user_dn": "uid=%u,ou=people,dc=example,dc=org"}
                       a directory server (ldap3). The password is checked one of three ways:
                       "user_dn" binds as that DN (%u the login, escaped per RFC 4514); else
                       "base" (required) with "filter" (default "(uid=%u)", %u escaped per
                       RFC 4515) finds the user's entry (subtree; more than one is [SYS/TEMP])
                       and binds as its DN; with "password_attr": "userPassword" it reads that
                       {SCHEME} hash instead and verifies it here (the passwd_file schemes).
                       An empty password is refused before any bind (LDAP would take it as an
                       unauthenticated bind, which succeeds). Every [AUTH] refusal, an unknown
                       user and a wrong password alike, is answered after the slowest of the
                       last 32 answers for known users (at least 200 ms, at most
                       timeout_seconds). A search that finds a second entry, brings more than
                       64 KiB or ends with anything but success is [SYS/TEMP]. Keys shared
                       with the ldap userdb:
                         "url" ldap://host[:port] or ldaps://host[:port];
                         "starttls" (bool, default false) StartTLS on an ldap:// URL;
                         "ca_file" PEM CA certificates for ldaps:// or StartTLS (default: the
                           system's roots);
                         "bind_dn", "bind_password" the service bind for searches (both or
                           neither, neither empty; default anonymous), e.g.
                           "bind_dn": "cn=pop3host,dc=example,dc=org";
                         "pool_size" (default 4) connections kept open, leased one per check;
                         "timeout_seconds" (default 5) for a check as a whole: waiting for a
                           connection, connecting (TLS included) and each operation; past it,
                           [SYS/TEMP].
                       A server that is down, slow or answers an error is [SYS/TEMP]; a kept
                       connection the server closed is replaced at the next check. No APOP.
                     {"driver": "sql", "url": "postgresql://pop3host@db.internal/mail",
                      "password_query":
                        "SELECT password, name AS \"user\" FROM users WHERE name = lower($1)",
                      "tls": "disable", "ca_file": null, "timeout_seconds": 5, "pool_size": 4}
                       users in PostgreSQL ("url": libpq's postgresql:// or postgres:// URL) or
                       SQLite ("url": "sqlite:///var/lib/pop3host/users.db", an absolute path,
                       opened read-only at each lookup), as Dovecot's dovecot-sql.conf.ext. The
                       login is the query's one parameter ($1 in PostgreSQL, ?1 in SQLite), never
                       put into its text. Columns by name: "password" ({SCHEME}hash as in
                       passwd_file; NULL or empty: the user cannot log in) and optionally "user"
                       (the name the userdb and %u get; default the login); other columns, more
                       than one row or a parameter that is not text are errors. Checked at
                       startup: the query is prepared, so a typo stops the server naming the
                       key. No row or a wrong password is [AUTH], either answered after the
                       slowest of the last 32 checks of known users (at least 200 ms, at most
                       timeout_seconds); the database down, an error or
                       no answer within timeout_seconds (default 5) is [SYS/TEMP] (PostgreSQL
                       also cancels it with statement_timeout; SQLite waits for a writer's lock
                       only that long). pool_size (default 4): connections to PostgreSQL,
                       lookups at once in SQLite. "tls" ("disable" | "require" | "verify-full")
                       and "ca_file" (PEM CAs for verify-full) as the postgres plugin's,
                       PostgreSQL only. APOP works for users whose password is {PLAIN}.
  "userdb"           (object, default {"driver": "passwd-file", "path": passwd_file}) where a user's
                     mail is and as which uid:gid, as Dovecot's userdb; "driver" chooses:
                     {"driver": "passwd-file", "path": "/etc/dovecot/users"}
                       the uid, gid and home fields of a passwd-file (its passwords are not used).
                     {"driver": "system"}
                       the system's user database (getpwnam: /etc/passwd or whatever NSS
                       is set to): uid, gid and home.
                     {"driver": "ldap", "url": "ldaps://ldap.example.org",
                      "base": "ou=people,dc=example,dc=org", "filter": "(uid=%u)",
                      "home_attr": "homeDirectory", "uid_attr": "uidNumber",
                      "gid_attr": "gidNumber", "maildir_attr": "mailMessageStore"}
                       the user's entry under "base" that "filter" (default "(uid=%u)")
                       matches, searched with the service bind: home, uid and gid from the
                       attributes named (defaults as shown; uid and gid both or neither), and
                       with "maildir_attr" (no default) the user's own maildir, an absolute
                       path that replaces the "maildir" template. The connection keys are
                       those of the ldap passdb; its own pool.
                     {"driver": "sql", "url": "sqlite:///var/lib/pop3host/users.db",
                      "user_query": "SELECT home, uid, gid, maildir FROM users WHERE name = ?1"}
                       the sql passdb's keys with "user_query" for "password_query"; its
                       parameter is the name the passdb accepted. Columns by name, each
                       optional (at least one): "home" (%h), "uid" and "gid" (numbers, both or
                       neither), "maildir" (absolute: this user's maildir, instead of the
                       "maildir" template). NULL or empty is absent; no row: cannot log in.
                     A user the passdb accepts and the userdb does not know cannot log in.
  "auth_cache"       (object, default none: off) remember successful logins, as Dovecot's
                     auth_cache_size and auth_cache_ttl, so that a client polling every few
                     minutes pays a costly hash (SHA512-CRYPT, BLF-CRYPT, ARGON2) once per TTL:
                     {"size": 10000, "ttl_seconds": 600} (the defaults of the two keys; size 1 to
                     1000000, ttl_seconds 1 to 86400). What is kept is an HMAC-SHA256, under a
                     random key drawn at each start, of the password with the user and what it
                     was checked against, never the password. With the passwd-file, the sql
                     driver and the ldap driver's password_attr the stored hash is part of it: a
                     changed password is refused at once (the file re-read, the row read and the
                     entry searched at each login). PAM,
                     checkpassword and LDAP binds hold no hash to compare: a password changed
                     there still works here for up to ttl_seconds. Wrong
                     passwords and unknown users are never remembered (an unknown user still
                     costs what a wrong password costs); APOP does not use the cache.
  "maildir"          (string, default "%h/Maildir") the user's Maildir++ INBOX: %u user name,
                     %n its local part, %d its domain, %h home from the userdb, %% a percent sign;
                     a leading "~/" means "%h/". Must be absolute and name the user; on Windows
                     with a drive and either separator (C:\vmail\%u, C:/vmail/%u). Names
                     pop3host gives messages take the info separator ":" (on Windows "!":
                     name!2,S); ":", "!" and ";" are read everywhere.
  "create"           (bool, default false) create a missing maildir (cur/ new/ tmp/) at login;
                     otherwise a missing maildir is an empty mailbox.
  "uidl"             ("auto" | "filename" | "dovecot", default "auto") UIDLs: "filename" serves the
                     base file name (hashed when it is not a valid UIDL); "dovecot" serves what
                     Dovecot serves from its dovecot-uidlist (pop3_uidl_format %08Xu%08Xv), falling
                     back to the file name for messages it does not list; "auto" is "dovecot" when
                     the maildir has a dovecot-uidlist.
  "no_flag_updates"  (bool, default false) at QUIT, leave messages where they are: no Seen flag
                     for retrieved messages and no move from new/ to cur/.
  "size_cache"       (bool, default true) remember measured message sizes in <maildir>/pop3host-sizes
                     so that later logins need not read messages without a ,W= size in their name.
  "virtual_users"    (bool, default false) every maildir belongs to one mail user that no login
                     user can write as (the usual virtual-users setup): serve maildirs whatever
                     their owner. Otherwise, when pop3host cannot switch to a user's uid:gid (it
                     is not root and lacks CAP_SETUID/CAP_SETGID) or the userdb gives none, a maildir
                     owned by another uid than pop3host's is refused ([SYS/PERM], logged with the
                     path): its owner could plant links to files only pop3host may read. On
                     Windows no effect: uid and gid are ignored and every maildir is served with
                     the rights of pop3host's account, the privilege boundary.
  "first_valid_uid"  (number, default 500, at least 1) and
  "first_valid_gid"  (number, default 1) as Dovecot's: a user whose userdb gives a lower uid or
                     gid (root's 0, a system account's) cannot log in ([SYS/PERM], logged with
                     the user and the key), whether or not pop3host switches to it. A userdb
                     that gives no uid:gid is not affected. On Windows no effect.
Users' files: with the right to switch, each user's files are read and written with the
userdb's uid and gid (per thread, as Dovecot does), so the kernel stops a user's links to
files they cannot read themselves. In every setup, nothing in a maildir is followed if it is a
symlink (cur/, new/, messages, pop3host.lock, dovecot-uidlist, pop3host-sizes), only regular
files are opened (a FIFO, device or socket is skipped with a warning), dovecot-uidlist and
pop3host-sizes larger than the maildir warrants (1 MiB + 1 KiB a message, at most 128 MiB) are
ignored, and a message is sent with the length it had when RETR opened it.
Examples:
  {"passwd_file": "/etc/dovecot/users", "maildir": "/var/vmail/%d/%n/Maildir", "uidl": "auto"}
  {"passwd_file": "/etc/dovecot/users", "maildir": "/var/vmail/%d/%n", "virtual_users": true}
  {"passdb": {"driver": "checkpassword", "program": "/usr/local/bin/checkpassword"},
   "userdb": {"driver": "passwd-file", "path": "/etc/dovecot/users"}, "maildir": "~/Maildir"}
  {"passdb": {"driver": "system", "pam_service": "pop3host"}, "userdb": {"driver": "system"},
   "maildir": "%h/Maildir", "auth_cache": {"size": 10000, "ttl_seconds": 600}}
  {"passdb": {"driver": "ldap", "url": "ldap://ldap.example.org", "starttls": true,
              "ca_file": "/etc/ssl/certs/example-ca.pem", "base": "ou=people,dc=example,dc=org"},
   "userdb": {"driver": "ldap", "url": "ldap://ldap.example.org", "starttls": true,
              "ca_file": "/etc/ssl/certs/example-ca.pem", "base": "ou=people,dc=example,dc=org"},
   "maildir": "%h/Maildir"}
  {"passdb": {"driver": "sql", "url": "postgresql://pop3host@db/mail",
              "password_query": "SELECT password FROM users WHERE name = $1"},
   "userdb": {"driver": "sql", "url": "postgresql://pop3host@db/mail",
              "user_query": "SELECT home, uid, gid FROM users WHERE name = $1"}}"#;

impl Config {
    /// Parses the config text the host passes to `init` (`null` when none was given).
    pub fn parse(text: &str) -> Result<Self, PopError> {
        if text.trim() == "null" {
            return Err(PopError::permanent(
                "maildir needs a config with passwd_file",
            ));
        }
        let mut json = serde_json::Deserializer::from_str(text);
        let keys: Keys = serde_path_to_error::deserialize(&mut json)
            .map_err(|err| config_error(&err.path().to_string(), err.inner()))?;
        let passdb = keys.passdb.map(PassDbConfig::from_value).transpose()?;
        let userdb = keys.userdb.map(UserDbConfig::from_value).transpose()?;
        let (passdb, userdb) = user_sources(keys.passwd_file, passdb, userdb)?;
        if keys.first_valid_uid == 0 {
            return Err(config_error(
                "first_valid_uid",
                "must be at least 1: uid 0 is root's, never a mail user's",
            ));
        }
        Ok(Self {
            passdb,
            userdb,
            maildir: keys.maildir,
            create: keys.create,
            uidl: keys.uidl,
            no_flag_updates: keys.no_flag_updates,
            size_cache: keys.size_cache,
            virtual_users: keys.virtual_users,
            first_valid: FirstValidIds {
                uid: keys.first_valid_uid,
                gid: keys.first_valid_gid,
            },
            auth_cache: keys.auth_cache,
        })
    }
}

/// `passdb` and `userdb`, each defaulting to the `passwd_file`, which is required unless both
/// are given, and refused when neither uses it (a key that does nothing is a mistake).
fn user_sources(
    passwd_file: Option<PathBuf>,
    passdb: Option<PassDbConfig>,
    userdb: Option<UserDbConfig>,
) -> Result<(PassDbConfig, UserDbConfig), PopError> {
    let default = |key: &str| {
        passwd_file
            .clone()
            .map(|path| passwd_file::Settings { path })
            .ok_or_else(|| {
                PopError::permanent(format!(
                    "maildir config: \"passwd_file\" is required unless \"{key}\" is given"
                ))
            })
    };
    if passwd_file.is_some() && passdb.is_some() && userdb.is_some() {
        return Err(PopError::permanent(
            "maildir config: \"passwd_file\" is not used when both \"passdb\" and \"userdb\" are given",
        ));
    }
    let passdb = match passdb {
        Some(passdb) => passdb,
        None => PassDbConfig::PasswdFile(default("passdb")?),
    };
    let userdb = match userdb {
        Some(userdb) => userdb,
        None => UserDbConfig::PasswdFile(default("userdb")?),
    };
    Ok((passdb, userdb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn defaults_fill_the_optional_keys() {
        let config = Config::parse(r#"{"passwd_file": "/etc/users"}"#).unwrap();
        for path in [passdb_file(&config), userdb_file(&config)] {
            assert_eq!(path, Some(Path::new("/etc/users")));
        }
        assert_eq!(config.maildir, "%h/Maildir");
        assert!(!config.create && !config.no_flag_updates && config.size_cache);
        assert!(!config.virtual_users);
        assert_eq!(config.first_valid, FirstValidIds { uid: 500, gid: 1 });
        assert_eq!(config.uidl, UidlMode::Auto);
        assert_eq!(config.auth_cache, None);
    }

    #[test]
    fn every_key_is_read() {
        let config = Config::parse(
            r#"{"passwd_file": "/u", "maildir": "/m/%u", "create": true, "uidl": "dovecot",
                "no_flag_updates": true, "size_cache": false, "virtual_users": true,
                "first_valid_uid": 1000, "first_valid_gid": 0,
                "auth_cache": {"ttl_seconds": 60}}"#,
        )
        .unwrap();
        assert!(config.virtual_users);
        assert_eq!(config.first_valid, FirstValidIds { uid: 1000, gid: 0 });
        let cache = config.auth_cache.unwrap();
        assert_eq!((cache.size, cache.ttl_seconds), (10_000, 60));
        assert_eq!(config.maildir, "/m/%u");
        assert!(config.create && config.no_flag_updates && !config.size_cache);
        assert_eq!(config.uidl, UidlMode::Dovecot);
    }

    fn passdb_file(config: &Config) -> Option<&Path> {
        match &config.passdb {
            PassDbConfig::PasswdFile(settings) => Some(&settings.path),
            _ => None,
        }
    }

    fn userdb_file(config: &Config) -> Option<&Path> {
        match &config.userdb {
            UserDbConfig::PasswdFile(settings) => Some(&settings.path),
            _ => None,
        }
    }

    #[test]
    fn passdb_and_userdb_are_chosen_separately() {
        let config = Config::parse(
            r#"{"passdb": {"driver": "passwd-file", "path": "/p"},
                "userdb": {"driver": "passwd-file", "path": "/q"}}"#,
        )
        .unwrap();
        assert_eq!(passdb_file(&config), Some(Path::new("/p")));
        assert_eq!(userdb_file(&config), Some(Path::new("/q")));
    }

    #[cfg(unix)]
    #[test]
    fn the_unix_drivers_are_read() {
        let config = Config::parse(
            r#"{"passwd_file": "/u",
                "passdb": {"driver": "checkpassword", "program": "/bin/check"}}"#,
        )
        .unwrap();
        let PassDbConfig::Checkpassword(check) = &config.passdb else {
            panic!("{:?}", config.passdb)
        };
        assert_eq!(check.program, Path::new("/bin/check"));
        assert_eq!((check.timeout_seconds, check.max_running), (5, 4));
        assert_eq!(userdb_file(&config), Some(Path::new("/u")));

        let config =
            Config::parse(r#"{"passdb": {"driver": "system"}, "userdb": {"driver": "system"}}"#)
                .unwrap();
        let PassDbConfig::System(pam) = &config.passdb else {
            panic!("{:?}", config.passdb)
        };
        assert_eq!(pam.pam_service, "pop3host");
        assert!(matches!(config.userdb, UserDbConfig::System(_)));
    }

    /// PAM, getpwnam and a program reading descriptor 3 exist on Unix only: choosing them
    /// elsewhere stops the server naming the key and the driver.
    #[cfg(not(unix))]
    #[test]
    fn the_unix_drivers_are_refused_naming_them() {
        for (config, said) in [
            (
                r#"{"passwd_file": "/u", "passdb": {"driver": "system"}}"#,
                "passdb.driver system: Unix only",
            ),
            (
                r#"{"passwd_file": "/u", "passdb": {"driver": "checkpassword", "program": "/c"}}"#,
                "passdb.driver checkpassword: Unix only",
            ),
            (
                r#"{"passwd_file": "/u", "userdb": {"driver": "system"}}"#,
                "userdb.driver system: Unix only",
            ),
        ] {
            let err = Config::parse(config).unwrap_err();
            assert!(err.message.contains(said), "{config}: {}", err.message);
        }
    }

    #[test]
    fn a_missing_or_unused_passwd_file_and_bad_drivers_are_errors() {
        let err =
            Config::parse(r#"{"passdb": {"driver": "passwd-file", "path": "/p"}}"#).unwrap_err();
        assert!(
            err.message
                .contains("\"passwd_file\" is required unless \"userdb\""),
            "{}",
            err.message
        );
        let err = Config::parse(
            r#"{"passwd_file": "/u", "passdb": {"driver": "passwd-file", "path": "/p"},
                "userdb": {"driver": "passwd-file", "path": "/q"}}"#,
        )
        .unwrap_err();
        assert!(err.message.contains("not used"), "{}", err.message);
        for (passdb, needle) in [
            (r#"{"driver": "kerberos"}"#, "kerberos"),
            (r#"{"path": "/p"}"#, "driver"),
            (
                r#"{"driver": "passwd-file", "path": "/p", "colour": 1}"#,
                "colour",
            ),
            (
                r#"{"driver": "ldap", "url": "ldap://h", "user_dn": "uid=%u", "timeout": 1}"#,
                "timeout",
            ),
        ] {
            let text = format!(r#"{{"passwd_file": "/u", "passdb": {passdb}}}"#);
            let err = Config::parse(&text).unwrap_err();
            assert!(
                err.message.contains("key \"passdb") && err.message.contains(needle),
                "{passdb}: {}",
                err.message
            );
        }
    }

    #[test]
    fn sql_sources_have_defaults_and_bad_keys_are_named() {
        let config = Config::parse(
            r#"{"passdb": {"driver": "sql", "url": "sqlite:///var/lib/users.db",
                           "password_query": "SELECT password FROM users WHERE name = ?1"},
                "userdb": {"driver": "sql", "url": "postgresql://db/mail", "tls": "verify-full",
                           "user_query": "SELECT home FROM users WHERE name = $1"}}"#,
        )
        .unwrap();
        let PassDbConfig::Sql(passdb) = &config.passdb else {
            panic!("{:?}", config.passdb)
        };
        assert_eq!((passdb.timeout_seconds, passdb.pool_size), (5, 4));
        assert_eq!(passdb.tls, pop3_pg_pool::Tls::Disable);
        let UserDbConfig::Sql(userdb) = &config.userdb else {
            panic!("{:?}", config.userdb)
        };
        assert_eq!(userdb.tls, pop3_pg_pool::Tls::VerifyFull);
        assert!(userdb.password_query.is_none());
        for (sql, needle) in [
            (r#""url": "x", "query": "q""#, "query"),
            (
                r#""url": "x", "pool_size": "many""#,
                "\"passdb.pool_size\": invalid type",
            ),
            (r#""url": "x", "tls": "verify-ca""#, "verify-ca"),
            (r#""password_query": "q""#, "url"),
        ] {
            let text = format!(r#"{{"passwd_file": "/u", "passdb": {{"driver": "sql", {sql}}}}}"#);
            let err = Config::parse(&text).unwrap_err();
            assert!(
                err.message.contains("key \"passdb") && err.message.contains(needle),
                "{sql}: {}",
                err.message
            );
        }
    }

    #[test]
    fn ldap_sources_parse_and_their_unknown_keys_are_named() {
        let config = Config::parse(
            r#"{"passdb": {"driver": "ldap", "url": "ldap://h", "user_dn": "uid=%u,o=x"},
                "userdb": {"driver": "ldap", "url": "ldap://h", "base": "o=x"}}"#,
        )
        .unwrap();
        assert!(matches!(config.passdb, PassDbConfig::Ldap(_)));
        assert!(matches!(config.userdb, UserDbConfig::Ldap(_)));
        let err = Config::parse(
            r#"{"passwd_file": "/u", "passdb": {"driver": "ldap", "url": "ldap://h", "uris": "ldap://h"}}"#,
        )
        .unwrap_err();
        assert!(
            err.message.contains("key \"passdb") && err.message.contains("uris"),
            "{}",
            err.message
        );
    }

    #[test]
    fn null_asks_for_a_config() {
        let err = Config::parse("null").unwrap_err();
        assert_eq!(err.message, "maildir needs a config with passwd_file");
    }

    #[test]
    fn errors_name_the_key() {
        let err = Config::parse(r#"{"passwd_file": "/u", "create": "yes"}"#).unwrap_err();
        assert!(err.message.contains("\"create\""), "{}", err.message);
        let err = Config::parse(r#"{"passwd_file": "/u", "uidl": "imap"}"#).unwrap_err();
        assert!(err.message.contains("\"uidl\""), "{}", err.message);
        let err = Config::parse(r#"{"passwd_file": "/u", "no_flag_update": true}"#).unwrap_err();
        assert!(err.message.contains("no_flag_update"), "{}", err.message);
        let err =
            Config::parse(r#"{"passwd_file": "/u", "auth_cache": {"size": -1}}"#).unwrap_err();
        assert!(
            err.message.contains("\"auth_cache.size\""),
            "{}",
            err.message
        );
        let err = Config::parse(r#"{"passwd_file": "/u", "auth_cache": {"ttl": 1}}"#).unwrap_err();
        assert!(err.message.contains("key \"auth_cache"), "{}", err.message);
        let err = Config::parse(r#"{"passwd_file": "/u", "first_valid_uid": 0}"#).unwrap_err();
        assert_eq!(
            err.message,
            "maildir config key \"first_valid_uid\": must be at least 1: uid 0 is root's, never \
             a mail user's"
        );
        // Inside a driver's object too, the key itself is named.
        for (sources, key) in [
            (
                r#""passdb": {"driver": "ldap", "url": "ldap://h", "user_dn": "uid=%u", "timeout_seconds": "5"}"#,
                "passdb.timeout_seconds",
            ),
            (
                r#""passdb": {"driver": "ldap", "url": "ldap://h", "base": "o=x", "pool_size": -1}"#,
                "passdb.pool_size",
            ),
            (
                r#""userdb": {"driver": "sql", "url": "x", "user_query": 1}"#,
                "userdb.user_query",
            ),
            (r#""userdb": {"driver": "checkpassword"}"#, "userdb.driver"),
            // Every driver's timeout is capped.
            (
                r#""passdb": {"driver": "sql", "url": "x", "password_query": "q", "timeout_seconds": 3601}"#,
                "passdb.timeout_seconds",
            ),
            (
                r#""passdb": {"driver": "ldap", "url": "ldap://h", "user_dn": "uid=%u", "timeout_seconds": 4000000}"#,
                "passdb.timeout_seconds",
            ),
            (
                r#""userdb": {"driver": "ldap", "url": "ldap://h", "base": "o=x", "timeout_seconds": 2147484}"#,
                "userdb.timeout_seconds",
            ),
            (
                r#""passdb": {"driver": "sql", "url": "x", "timeout_seconds": 4294967295}"#,
                "passdb.timeout_seconds",
            ),
            (r#""passdb": {"driver": 1}"#, "passdb.driver"),
            (r#""passdb": ["sql"]"#, "passdb"),
        ] {
            let text = format!(r#"{{"passwd_file": "/u", {sources}}}"#);
            let err = Config::parse(&text).unwrap_err().message;
            assert!(
                err.starts_with(&format!("maildir config key \"{key}\": ")),
                "{sources}: {err}"
            );
        }
        let err = Config::parse(
            r#"{"passwd_file": "/u", "passdb": {"driver": "sql", "url": "x", "password_query": "q", "timeout_seconds": 3601}}"#,
        )
        .unwrap_err();
        assert!(
            err.message
                .ends_with("3601 is above the limit of 3600 seconds"),
            "{}",
            err.message
        );
        Config::parse(
            r#"{"passwd_file": "/u", "passdb": {"driver": "sql", "url": "x", "password_query": "q", "timeout_seconds": 3600}}"#,
        )
        .unwrap();
        let err = Config::parse(r#"{"maildir": "/m/%u"}"#).unwrap_err();
        assert!(err.message.contains("passwd_file"), "{}", err.message);
    }
}
