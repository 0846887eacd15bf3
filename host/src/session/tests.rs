use super::*;
use crate::protocol::command::Command;

fn config(apop: bool) -> Arc<SessionConfig> {
    Arc::new(SessionConfig {
        greeting: "pop3host ready.".into(),
        apop,
        login_delay: Some(0),
        expire: None,
        hostname: "mail.test".into(),
    })
}

fn session(apop: bool) -> Session {
    Session::new(
        config(apop),
        Arc::new(LoginTracker::default()),
        7,
        1_700_000_000,
    )
}

/// Sends one command line; returns the reply text and the action.
fn send(session: &mut Session, line: &str) -> (String, Action) {
    let mut out = Vec::new();
    let action = match Command::parse(line.as_bytes()) {
        Ok(command) => session.handle(command, &mut out),
        Err(e) => {
            session.parse_error(e, &mut out);
            Action::Continue
        }
    };
    (String::from_utf8(out).unwrap(), action)
}

fn granted(sizes: &[u64]) -> Granted {
    Granted {
        messages: sizes
            .iter()
            .enumerate()
            .map(|(i, &s)| (format!("id-{}", i + 1), s))
            .collect(),
        login_delay: None,
        expire: Some(Expire::Days(30)),
    }
}

/// A session logged in with messages of the given sizes.
fn logged_in(sizes: &[u64]) -> Session {
    let mut s = session(false);
    send(&mut s, "USER alice");
    let (_, action) = send(&mut s, "PASS secret");
    let Action::Login(login) = action else {
        panic!("expected a login, got {action:?}")
    };
    assert!(s.login_done(&login, Ok(granted(sizes)), Instant::now(), &mut Vec::new()));
    s
}

#[test]
fn greeting_has_an_apop_timestamp_only_with_apop() {
    let mut out = Vec::new();
    session(true).greeting(&mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("+OK pop3host ready. <"), "{text}");
    assert!(text.ends_with(".7.1700000000@mail.test>\r\n"), "{text}");
    let mut out = Vec::new();
    session(false).greeting(&mut out);
    assert_eq!(out, b"+OK pop3host ready.\r\n");
}

#[test]
fn user_pass_asks_the_backend() {
    let mut s = session(false);
    assert_eq!(
        send(&mut s, "PASS x").0,
        "-ERR No user name given, send USER first.\r\n"
    );
    assert_eq!(send(&mut s, "user alice").0, "+OK Send PASS.\r\n");
    let (text, action) = send(&mut s, "PASS two words");
    assert_eq!(text, "");
    assert_eq!(
        action,
        Action::Login(Login {
            user: "alice".into(),
            secret: Secret::Password("two words".into())
        })
    );
}

#[test]
fn a_failed_login_starts_over() {
    let mut s = session(false);
    send(&mut s, "USER alice");
    let (_, Action::Login(login)) = send(&mut s, "PASS wrong") else {
        panic!()
    };
    let mut out = Vec::new();
    assert!(!s.login_done(
        &login,
        Err(PopError::auth("bad password")),
        Instant::now(),
        &mut out
    ));
    assert_eq!(out, b"-ERR [AUTH] Authentication failed.\r\n");
    assert_eq!(
        send(&mut s, "PASS again").0,
        "-ERR No user name given, send USER first.\r\n"
    );
    assert_eq!(send(&mut s, "USER alice").0, "+OK Send PASS.\r\n");
}

#[test]
fn apop_needs_the_timestamp() {
    let mut s = session(false);
    assert_eq!(
        send(&mut s, "APOP a 0123456789abcdef0123456789abcdef").0,
        "-ERR APOP is not available.\r\n"
    );
    let mut s = session(true);
    let (_, action) = send(&mut s, "APOP a 0123456789abcdef0123456789abcdef");
    let Action::Login(Login {
        secret: Secret::Apop { timestamp, .. },
        ..
    }) = action
    else {
        panic!()
    };
    assert!(timestamp.starts_with('<') && timestamp.ends_with("@mail.test>"));
}

#[test]
fn only_authorization_commands_before_login() {
    let mut s = session(false);
    for line in [
        "STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL",
    ] {
        assert_eq!(
            send(&mut s, line).0,
            "-ERR Not allowed before login.\r\n",
            "{line}"
        );
    }
    assert_eq!(
        send(&mut s, "QUIT"),
        ("+OK Logging out.\r\n".into(), Action::Close)
    );
}

#[test]
fn capa_differs_by_state() {
    let mut s = session(false);
    let before = send(&mut s, "CAPA").0;
    assert!(before.contains("\r\nUSER\r\n") && before.contains("\r\nLOGIN-DELAY 0\r\n"));
    let mut s = logged_in(&[1]);
    let after = send(&mut s, "CAPA").0;
    assert!(
        !after.contains("USER") && after.contains("\r\nEXPIRE 30\r\n"),
        "{after}"
    );
}

#[test]
fn stat_list_uidl_hide_deleted_messages() {
    let mut s = logged_in(&[100, 200, 300]);
    assert_eq!(send(&mut s, "STAT").0, "+OK 3 600\r\n");
    assert_eq!(send(&mut s, "DELE 2").0, "+OK Message 2 deleted.\r\n");
    assert_eq!(send(&mut s, "DELE 2").0, "-ERR Message is deleted.\r\n");
    assert_eq!(send(&mut s, "STAT").0, "+OK 2 400\r\n");
    assert_eq!(
        send(&mut s, "LIST").0,
        "+OK 2 messages (400 octets)\r\n1 100\r\n3 300\r\n.\r\n"
    );
    assert_eq!(
        send(&mut s, "UIDL").0,
        "+OK 2 messages (400 octets)\r\n1 id-1\r\n3 id-3\r\n.\r\n"
    );
    assert_eq!(send(&mut s, "LIST 3").0, "+OK 3 300\r\n");
    assert_eq!(send(&mut s, "UIDL 1").0, "+OK 1 id-1\r\n");
    for line in ["LIST 2", "UIDL 2", "RETR 2", "TOP 2 0"] {
        assert_eq!(
            send(&mut s, line).0,
            "-ERR Message is deleted.\r\n",
            "{line}"
        );
    }
    assert_eq!(
        send(&mut s, "RSET").0,
        "+OK Maildrop has 3 messages (600 octets).\r\n"
    );
    assert_eq!(send(&mut s, "LIST 2").0, "+OK 2 200\r\n");
}

#[test]
fn bad_message_numbers_keep_the_session() {
    let mut s = logged_in(&[100]);
    for line in ["RETR 0", "RETR 2", "LIST 4294967295", "DELE 99999999999999"] {
        assert_eq!(send(&mut s, line).0, "-ERR No such message.\r\n", "{line}");
    }
    assert_eq!(send(&mut s, "RETR x").0, "-ERR Syntax: RETR msg\r\n");
    assert_eq!(send(&mut s, "NOOP").0, "+OK\r\n");
}

#[test]
fn retr_and_top_ask_for_a_transfer() {
    let mut s = logged_in(&[100, 200]);
    let (text, action) = send(&mut s, "RETR 2");
    assert_eq!(text, "");
    let Action::Transfer(transfer) = action else {
        panic!()
    };
    assert_eq!(
        transfer,
        Transfer {
            index: 1,
            id: "id-2".into(),
            size: 200,
            top: None
        }
    );
    let mut out = Vec::new();
    transfer.ok_line(&mut out);
    assert_eq!(out, b"+OK 200 octets\r\n");
    let (_, action) = send(&mut s, "TOP 1 5");
    assert_eq!(
        action,
        Action::Transfer(Transfer {
            index: 0,
            id: "id-1".into(),
            size: 100,
            top: Some(5)
        })
    );
}

#[test]
fn quit_from_transaction_updates_with_the_marks() {
    let mut s = logged_in(&[1, 2, 3]);
    send(&mut s, "DELE 1");
    send(&mut s, "DELE 3");
    let (text, action) = send(&mut s, "QUIT");
    assert_eq!(text, "");
    assert_eq!(
        action,
        Action::Update(vec![(0, "id-1".into()), (2, "id-3".into())])
    );
    let mut out = Vec::new();
    s.update_done(2, Ok(()), &mut out);
    assert_eq!(out, b"+OK Logging out, 2 messages deleted.\r\n");
    assert_eq!(send(&mut s, "NOOP").1, Action::Close);
}

#[test]
fn a_failed_update_is_reported() {
    let mut s = logged_in(&[1]);
    send(&mut s, "DELE 1");
    send(&mut s, "QUIT");
    let mut out = Vec::new();
    s.update_done(1, Err(PopError::temporary("1 of 1 not removed")), &mut out);
    assert!(String::from_utf8(out)
        .unwrap()
        .starts_with("-ERR [SYS/TEMP] "));
}

#[test]
fn login_delay_is_enforced_by_the_host() {
    let logins = Arc::new(LoginTracker::default());
    let now = Instant::now();
    let mut delayed = Granted {
        login_delay: Some(60),
        ..granted(&[])
    };
    let login = Login {
        user: "alice".into(),
        secret: Secret::Password("x".into()),
    };
    let mut first = Session::new(config(false), logins.clone(), 1, 0);
    assert!(first.login_done(&login, Ok(delayed), now, &mut Vec::new()));
    delayed = Granted {
        login_delay: Some(60),
        ..granted(&[])
    };
    let mut second = Session::new(config(false), logins, 2, 0);
    let mut out = Vec::new();
    assert!(!second.login_done(&login, Ok(delayed), now + Duration::from_secs(10), &mut out));
    assert_eq!(
        out,
        b"-ERR [LOGIN-DELAY] Logged in too recently, try again in 50 seconds.\r\n"
    );
}

#[test]
fn already_logged_in() {
    let mut s = logged_in(&[]);
    assert_eq!(send(&mut s, "USER bob").0, "-ERR Already logged in.\r\n");
}
