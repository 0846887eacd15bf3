//! The backend through the plugin-api traits, as the host drives it.

use crate::{StaticMailbox, StaticMessages};
use pop3_plugin_api::{apop_digest, SizeCounter};
use pop3_plugin_api::{
    Backend, Connection, Expire, Mailbox, MessageInfo, MessageRef, PopError, ResponseCode,
};
use serde_json::json;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn conn() -> Connection {
    Connection {
        id: 1,
        peer: ([127, 0, 0, 1], 40000).into(),
        local: ([127, 0, 0, 1], 110).into(),
        tls: false,
    }
}

fn init(config: serde_json::Value) -> StaticMessages {
    StaticMessages::init(&config.to_string()).unwrap()
}

fn init_err(config: serde_json::Value) -> String {
    StaticMessages::init(&config.to_string())
        .err()
        .unwrap()
        .message
}

fn login(backend: &StaticMessages, user: &str, password: &str) -> StaticMailbox {
    backend.authenticate(user, password, &conn()).unwrap()
}

fn at(list: &[MessageInfo], index: usize) -> MessageRef<'_> {
    MessageRef {
        index,
        id: &list[index].id,
    }
}

fn read_all(mailbox: &mut StaticMailbox, msg: MessageRef<'_>) -> Vec<u8> {
    let mut bytes = Vec::new();
    mailbox
        .retrieve(msg)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

fn ids(mailbox: &mut StaticMailbox) -> Vec<String> {
    mailbox.list().unwrap().into_iter().map(|m| m.id).collect()
}

/// A file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> Self {
        let path =
            std::env::temp_dir().join(format!("static-messages-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn builtin_sizes_are_the_sizes_of_the_bytes_read() {
    let backend = StaticMessages::init("null").unwrap();
    let mut mailbox = login(&backend, "test", "test");
    let list = mailbox.list().unwrap();
    assert_eq!(list.len(), 6);
    for index in 0..list.len() {
        let bytes = read_all(&mut mailbox, at(&list, index));
        assert_eq!(
            list[index].size,
            Some(SizeCounter::size_of(&bytes)),
            "{}",
            list[index].id
        );
    }
    assert!(list[5].size.unwrap() >= 4 << 20);
}

#[test]
fn builtin_ids_are_unique_valid_uidls() {
    let backend = StaticMessages::init("null").unwrap();
    let ids = ids(&mut login(&backend, "test", "test"));
    assert_eq!(
        ids,
        ["test-1", "test-2", "test-3", "test-4", "test-5", "test-6"]
    );
    for id in &ids {
        assert!((1..=70).contains(&id.len()) && id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    }
}

#[test]
fn wrong_user_and_wrong_password_fail_alike() {
    let backend = StaticMessages::init("null").unwrap();
    let wrong_password = backend.authenticate("test", "nope", &conn()).err().unwrap();
    let wrong_user = backend
        .authenticate("nobody", "test", &conn())
        .err()
        .unwrap();
    assert_eq!(wrong_password, PopError::auth("authentication failed"));
    assert_eq!(wrong_user, wrong_password);
    assert!(backend.authenticate("test", "test", &conn()).is_ok());
}

#[test]
fn apop_checks_the_digest() {
    let backend = StaticMessages::init("null").unwrap();
    assert!(backend.supports_apop());
    let timestamp = "<1896.697170952@dbc.mtview.ca.us>";
    // RFC 1939 §7's example, with its secret "tanstaaf".
    assert_eq!(
        apop_digest(timestamp, "tanstaaf"),
        "c4c9334bac560ecc979e58001b3e22fb"
    );
    let digest = apop_digest(timestamp, "test");
    assert!(backend.apop("test", &digest, timestamp, &conn()).is_ok());
    let wrong = backend.apop("test", &apop_digest(timestamp, "nope"), timestamp, &conn());
    assert_eq!(wrong.err().unwrap().code, ResponseCode::AUTH);
    let other_stamp = backend.apop("test", &digest, "<2@x>", &conn());
    assert_eq!(other_stamp.err().unwrap().code, ResponseCode::AUTH);
}

#[test]
fn apop_is_offered_only_with_a_secret() {
    let backend = init(json!({"users": {"a": {"password": "p"}}}));
    assert!(!backend.supports_apop());
    let err = backend
        .apop("a", &apop_digest("<1@x>", "p"), "<1@x>", &conn())
        .err()
        .unwrap();
    assert_eq!(err.code, ResponseCode::AUTH);
}

#[test]
fn second_session_is_in_use_until_the_first_drops() {
    let backend = init(json!({"users": {"a": {"password": "p"}, "b": {"password": "q"}}}));
    let first = login(&backend, "a", "p");
    let err = backend.authenticate("a", "p", &conn()).err().unwrap();
    assert_eq!(err.code, ResponseCode::IN_USE);
    let _other_user = login(&backend, "b", "q");
    drop(first);
    login(&backend, "a", "p");
}

#[test]
fn wrong_password_on_a_locked_maildrop_is_auth_not_in_use() {
    let backend = StaticMessages::init("null").unwrap();
    let _session = login(&backend, "test", "test");
    let err = backend.authenticate("test", "nope", &conn()).err().unwrap();
    assert_eq!(err.code, ResponseCode::AUTH);
}

#[test]
fn deletions_persist_across_sessions_and_only_through_delete() {
    let backend = StaticMessages::init("null").unwrap();
    let mut session = login(&backend, "test", "test");
    let list = session.list().unwrap();
    read_all(&mut session, at(&list, 0));
    drop(session); // a dropped connection deletes nothing
    let mut session = login(&backend, "test", "test");
    assert_eq!(ids(&mut session).len(), 6);
    session.delete(&[at(&list, 0), at(&list, 2)]).unwrap();
    drop(session);
    let mut session = login(&backend, "test", "test");
    assert_eq!(ids(&mut session), ["test-2", "test-4", "test-5", "test-6"]);
    let gone = session.retrieve(at(&list, 0)).err().unwrap();
    assert_eq!(gone.code, ResponseCode::NONE);
}

#[test]
fn delete_of_an_unknown_id_deletes_nothing() {
    let backend = StaticMessages::init("null").unwrap();
    let mut session = login(&backend, "test", "test");
    let bogus = MessageRef {
        index: 9,
        id: "bogus",
    };
    let list = session.list().unwrap();
    assert!(session.delete(&[at(&list, 0), bogus]).is_err());
    assert_eq!(ids(&mut session).len(), 6);
}

#[test]
fn configured_messages_inline_file_and_generated() {
    let file = TempFile::new("msg.eml", b"Subject: from a file\n\nbody\n.\nend");
    let backend = init(json!({"users": {"alice": {"password": "pw", "messages": [
        {"id": "a1", "text": "Subject: x\r\n\r\nbody\r\n"},
        {"file": file.0},
        {"generated_bytes": 100_000},
    ]}}}));
    let mut session = login(&backend, "alice", "pw");
    let list = session.list().unwrap();
    let ids: Vec<&str> = list.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["a1", "alice-2", "alice-3"]);
    assert_eq!(
        read_all(&mut session, at(&list, 0)),
        b"Subject: x\r\n\r\nbody\r\n"
    );
    assert_eq!(
        read_all(&mut session, at(&list, 1)),
        std::fs::read(&file.0).unwrap()
    );
    for index in 0..list.len() {
        let bytes = read_all(&mut session, at(&list, index));
        assert_eq!(list[index].size, Some(SizeCounter::size_of(&bytes)));
    }
    // 32 octets, 4 bare LFs, no final newline.
    assert_eq!(list[1].size, Some(32 + 4 + 2));
    assert!((100_000..100_077).contains(&list[2].size.unwrap()));
}

#[test]
fn builtin_messages_for_a_configured_user_come_first() {
    let backend = init(json!({"users": {"bob": {"password": "pw2", "builtin": true,
        "messages": [{"text": "Subject: extra\r\n\r\n"}]}}}));
    let ids = ids(&mut login(&backend, "bob", "pw2"));
    assert_eq!(ids.len(), 7);
    assert_eq!((ids[0].as_str(), ids[6].as_str()), ("bob-1", "bob-7"));
}

#[test]
fn without_users_the_builtin_user_serves_with_the_faults() {
    let backend = init(json!({"faults": [{"callback": "top", "action": "error", "code": "NONE"}]}));
    let mut session = login(&backend, "test", "test");
    let list = session.list().unwrap();
    assert_eq!(
        session.top(at(&list, 0), 1).err().unwrap().code,
        ResponseCode::NONE
    );
}

#[test]
fn login_delay_and_expire_per_user_with_top_level_defaults() {
    let backend = init(json!({
        "users": {"a": {"password": "p", "login_delay": 60, "expire": 30}, "b": {"password": "q"}},
        "login_delay": 0, "expire": "never"}));
    assert_eq!(
        (backend.login_delay(None), backend.expire(None)),
        (Some(0), Some(Expire::Never))
    );
    assert_eq!(backend.login_delay(Some("a")), Some(60));
    assert_eq!(backend.expire(Some("a")), Some(Expire::Days(30)));
    assert_eq!(backend.login_delay(Some("b")), Some(0));
    assert_eq!(backend.expire(Some("b")), Some(Expire::Never));
    let unset = StaticMessages::init("null").unwrap();
    assert_eq!(
        (unset.login_delay(Some("test")), unset.expire(None)),
        (None, None)
    );
}

#[test]
fn config_errors_name_the_field() {
    let missing = "/nonexistent/static-messages/msg.eml";
    let cases = [
        (json!([]), "expected an object"),
        (json!({"user": {}}), "user: unknown field `user`"),
        (json!({"login_delay": "soon"}), "login_delay: invalid type"),
        (
            json!({"expire": -1}),
            "expire: expected a number of days or \"never\"",
        ),
        (
            json!({"users": []}),
            "users: invalid type: sequence, expected a map",
        ),
        (
            json!({"users": {"a": {"pasword": "p"}}}),
            "users.a.pasword: unknown field `pasword`",
        ),
        (
            json!({"users": {"a": {}}}),
            "users.a: needs a password or an apop_secret",
        ),
        (
            json!({"users": {"a": {"password": ""}}}),
            "users.a.password: must not be empty",
        ),
        (
            json!({"users": {"a": {"password": "p", "apop_secret": ""}}}),
            "users.a.apop_secret: must not be empty",
        ),
        (
            json!({"users": {"a": {"password": 1}}}),
            "users.a.password: invalid type",
        ),
        (
            json!({"users": {"a": {"password": "p", "messages": {}}}}),
            "users.a.messages: invalid type: map, expected a sequence",
        ),
        (
            json!({"users": {"a": {"password": "p", "messages": [{}]}}}),
            "users.a.messages[0]: needs exactly one",
        ),
        (
            json!({"users": {"a": {"password": "p", "messages": [{"text": "x", "file": "/x"}]}}}),
            "users.a.messages[0]: needs exactly one",
        ),
        (
            json!({"users": {"a": {"password": "p", "messages": [{"text": "x"}, {"text": "y", "id": "a-1"}]}}}),
            "users.a.messages[1]: duplicate id \"a-1\"",
        ),
        (
            json!({"users": {"a": {"password": "p", "messages": [{"file": missing}]}}}),
            "users.a.messages[0]: cannot read /nonexistent/static-messages/msg.eml",
        ),
        (
            json!({"users": {"a": {"password": "p", "messages": [{"generated_bytes": u64::MAX}]}}}),
            "users.a.messages[0].generated_bytes: at most",
        ),
        (
            json!({"faults": {}}),
            "faults: invalid type: map, expected a sequence",
        ),
        (
            json!({"faults": [{"callback": "list", "action": "nap"}]}),
            "faults[0].action: unknown value",
        ),
    ];
    for (config, expected) in cases {
        let err = init_err(config.clone());
        assert!(
            err.starts_with(&format!("static-messages config: {expected}")),
            "{config}: {err}"
        );
    }
    let err = StaticMessages::init("{").err().unwrap().message;
    assert!(
        err.starts_with("static-messages config: not JSON: "),
        "{err}"
    );
}

#[test]
fn config_errors_are_permanent() {
    let err = StaticMessages::init("{\"x\": 1}").err().unwrap();
    assert_eq!(err.code, ResponseCode::SYS_PERM);
}

#[test]
fn help_example_is_a_valid_config_and_every_key_is_documented() {
    let help = StaticMessages::describe().config_help;
    let example = help.split_once("Example:\n").unwrap().1;
    let backend = StaticMessages::init(example).unwrap();
    assert_eq!(backend.login_delay(Some("alice")), Some(60));
    let keys = [
        "users",
        "login_delay",
        "expire",
        "faults",
        "password",
        "apop_secret",
        "builtin",
        "messages",
        "text",
        "file",
        "generated_bytes",
        "id",
        "callback",
        "action",
        "code",
        "ms",
        "user",
    ];
    for key in keys {
        assert!(help.contains(key), "{key}");
    }
    for (name, _) in crate::faults::CALLBACKS {
        assert!(help.contains(name), "{name}");
    }
    for (name, _) in crate::faults::CODES {
        assert!(help.contains(name), "{name}");
    }
}

#[test]
fn describe_names_the_plugin() {
    let info = StaticMessages::describe();
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("static-messages", env!("CARGO_PKG_VERSION"))
    );
}

fn with_fault(fault: serde_json::Value) -> StaticMessages {
    init(
        json!({"users": {"a": {"password": "p", "builtin": true}, "b": {"password": "q"}},
                "faults": [fault]}),
    )
}

fn panics<T>(f: impl FnOnce() -> T) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

#[test]
fn init_faults_stop_the_start() {
    let err =
        init_err(json!({"faults": [{"callback": "init", "action": "error", "code": "SYS/PERM"}]}));
    assert_eq!(err, "static-messages: injected error in init");
    let config = json!({"faults": [{"callback": "init", "action": "panic"}]}).to_string();
    assert!(panics(|| StaticMessages::init(&config)));
}

#[test]
fn authenticate_error_fault_hits_only_its_user() {
    let backend = with_fault(
        json!({"callback": "authenticate", "action": "error", "code": "SYS/PERM", "user": "b"}),
    );
    assert_eq!(
        backend.authenticate("b", "q", &conn()).err().unwrap().code,
        ResponseCode::SYS_PERM
    );
    login(&backend, "a", "p");
}

#[test]
fn retrieve_panic_fault_panics_and_leaves_the_lock_to_drop() {
    let backend = with_fault(json!({"callback": "retrieve", "action": "panic"}));
    let mut session = login(&backend, "a", "p");
    let list = session.list().unwrap();
    assert!(panics(|| session.retrieve(at(&list, 0))));
    drop(session);
    login(&backend, "a", "p");
}

#[test]
fn read_fault_fails_the_stream_mid_message() {
    let backend = with_fault(json!({"callback": "read", "action": "error", "user": "a"}));
    let mut session = login(&backend, "a", "p");
    let list = session.list().unwrap();
    let mut reader = session.retrieve(at(&list, 5)).unwrap();
    let mut bytes = Vec::new();
    let err = reader.read_to_end(&mut bytes).unwrap_err();
    assert_eq!(bytes.len() as u64, crate::tripwire::READ_FAULT_AFTER);
    assert_eq!(PopError::from(err).code, ResponseCode::SYS_TEMP);
}

#[test]
fn size_fault_leaves_sizes_out_of_list() {
    let backend = with_fault(json!({"callback": "size", "action": "error", "code": "SYS/TEMP"}));
    let mut session = login(&backend, "a", "p");
    let list = session.list().unwrap();
    assert!(list.iter().all(|m| m.size.is_none()));
    assert_eq!(
        session.size(at(&list, 0)).err().unwrap().code,
        ResponseCode::SYS_TEMP
    );
    let unfaulted = StaticMessages::init("null").unwrap();
    let mut session = login(&unfaulted, "test", "test");
    let list = session.list().unwrap();
    assert_eq!(session.size(at(&list, 1)).unwrap(), list[1].size);
}

#[test]
fn delete_error_fault_deletes_nothing() {
    let backend = with_fault(json!({"callback": "delete", "action": "error"}));
    let mut session = login(&backend, "a", "p");
    let list = session.list().unwrap();
    assert!(session.delete(&[at(&list, 0)]).is_err());
    assert_eq!(ids(&mut session).len(), 6);
}

#[test]
fn drop_panic_fault_still_releases_the_lock() {
    let backend = with_fault(json!({"callback": "drop", "action": "panic", "user": "a"}));
    let session = login(&backend, "a", "p");
    assert!(panics(|| drop(session)));
    let again = login(&backend, "a", "p");
    assert!(panics(|| drop(again)));
    drop(login(&backend, "b", "q"));
}

#[test]
fn delay_faults_stall_then_answer() {
    let backend = with_fault(json!({"callback": "list", "action": "delay", "ms": 30}));
    let mut session = login(&backend, "a", "p");
    let start = Instant::now();
    assert_eq!(session.list().unwrap().len(), 6);
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[test]
fn faults_without_an_error_result_panic_or_stall() {
    let backend = with_fault(json!({"callback": "login_delay", "action": "panic", "user": "a"}));
    assert!(panics(|| backend.login_delay(Some("a"))));
    assert_eq!(backend.login_delay(None), None);
    let backend = with_fault(json!({"callback": "disconnect", "action": "panic"}));
    assert!(panics(|| backend.disconnect(&conn())));
    let backend = with_fault(json!({"callback": "connect", "action": "error", "code": "AUTH"}));
    assert_eq!(
        backend.connect(&conn()).err().unwrap().code,
        ResponseCode::AUTH
    );
}

#[test]
fn a_maildrop_that_is_not_exclusive_takes_many_sessions() {
    let backend = init(json!({"users": {"a": {"password": "p", "exclusive": false}}}));
    let first = backend.authenticate("a", "p", &conn());
    let second = backend.authenticate("a", "p", &conn());
    assert!(first.is_ok() && second.is_ok());
}
