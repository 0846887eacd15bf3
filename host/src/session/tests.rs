use super::*;
use pop3_plugin_api::{Expire, PopError};
use std::time::{Duration, Instant};

fn config(apop: bool) -> Arc<SessionConfig> {
    Arc::new(SessionConfig {
        greeting: "pop3host ready.".into(),
        apop,
        login_delay: Some(0),
        expire: None,
        hostname: "mail.test".into(),
        tls_available: true,
        max_auth_failures: 3,
    })
}

const PLAINTEXT_ALLOWED: Transport = Transport {
    tls: false,
    plaintext_auth_without_tls: true,
};
const PLAINTEXT_ONLY_WITH_TLS: Transport = Transport {
    tls: false,
    plaintext_auth_without_tls: false,
};

fn session_on(apop: bool, transport: Transport) -> Session {
    let logins = Arc::new(LoginTracker::default());
    Session::new(config(apop), logins, 7, 1_700_000_000, transport)
}

fn session(apop: bool) -> Session {
    session_on(apop, PLAINTEXT_ALLOWED)
}

/// Sends one command line; returns the reply text and the action (a listing written whole,
/// as [`Action::Continue`]).
fn send(session: &mut Session, line: &str) -> (String, Action) {
    let mut out = Vec::new();
    let mut action = session.line(line.as_bytes(), &mut out);
    if let Action::Listing(listing) = &mut action {
        while session.write_listing(listing, &mut out, 0) {}
        action = Action::Continue;
    }
    (String::from_utf8(out).unwrap(), action)
}

/// Sends each line in turn and checks the whole reply to it.
fn dialogue(session: &mut Session, exchange: &[(&str, &str)]) {
    for (line, reply) in exchange {
        assert_eq!(send(session, line).0, *reply, "{line}");
    }
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
    let outcome = s.login_done(&login, Ok(granted(sizes)), Instant::now(), &mut Vec::new());
    assert_eq!(outcome, LoginOutcome::LoggedIn);
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
    dialogue(
        &mut s,
        &[
            ("PASS x", "-ERR No user name given, send USER first.\r\n"),
            ("user alice", "+OK Send PASS.\r\n"),
        ],
    );
    let (text, action) = send(&mut s, "PASS two words");
    assert_eq!(text, "");
    assert_eq!(
        action,
        Action::Login(Login {
            user: "alice".into(),
            secret: Secret::Password("two words".into()),
            mechanism: "USER",
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
    let outcome = s.login_done(
        &login,
        Err(PopError::auth("bad password")),
        Instant::now(),
        &mut out,
    );
    assert_eq!(
        outcome,
        LoginOutcome::Refused {
            bad_credentials: true,
            close: false
        }
    );
    assert_eq!(out, b"-ERR [AUTH] Authentication failed.\r\n");
    dialogue(
        &mut s,
        &[
            (
                "PASS again",
                "-ERR No user name given, send USER first.\r\n",
            ),
            ("USER alice", "+OK Send PASS.\r\n"),
        ],
    );
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
    dialogue(
        &mut s,
        &[
            ("STAT", "+OK 3 600\r\n"),
            ("DELE 2", "+OK Message 2 deleted.\r\n"),
            ("DELE 2", "-ERR Message is deleted.\r\n"),
            ("STAT", "+OK 2 400\r\n"),
            (
                "LIST",
                "+OK 2 messages (400 octets)\r\n1 100\r\n3 300\r\n.\r\n",
            ),
            (
                "UIDL",
                "+OK 2 messages (400 octets)\r\n1 id-1\r\n3 id-3\r\n.\r\n",
            ),
            ("LIST 3", "+OK 3 300\r\n"),
            ("UIDL 1", "+OK 1 id-1\r\n"),
        ],
    );
    for line in ["LIST 2", "UIDL 2", "RETR 2", "TOP 2 0"] {
        assert_eq!(
            send(&mut s, line).0,
            "-ERR Message is deleted.\r\n",
            "{line}"
        );
    }
    dialogue(
        &mut s,
        &[
            ("RSET", "+OK Maildrop has 3 messages (600 octets).\r\n"),
            ("LIST 2", "+OK 2 200\r\n"),
        ],
    );
}

#[test]
fn bad_message_numbers_keep_the_session() {
    let mut s = logged_in(&[100]);
    for line in ["RETR 0", "RETR 2", "LIST 4294967295", "DELE 99999999999999"] {
        assert_eq!(send(&mut s, line).0, "-ERR No such message.\r\n", "{line}");
    }
    dialogue(
        &mut s,
        &[("RETR x", "-ERR Syntax: RETR msg\r\n"), ("NOOP", "+OK\r\n")],
    );
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
        mechanism: "USER",
    };
    let mut first = Session::new(config(false), logins.clone(), 1, 0, PLAINTEXT_ALLOWED);
    assert_eq!(
        first.login_done(&login, Ok(delayed), now, &mut Vec::new()),
        LoginOutcome::LoggedIn
    );
    delayed = Granted {
        login_delay: Some(60),
        ..granted(&[])
    };
    let mut second = Session::new(config(false), logins, 2, 0, PLAINTEXT_ALLOWED);
    let mut out = Vec::new();
    let outcome = second.login_done(&login, Ok(delayed), now + Duration::from_secs(10), &mut out);
    assert_eq!(
        outcome,
        LoginOutcome::Refused {
            bad_credentials: false,
            close: false
        }
    );
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

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn password_login(mechanism: &'static str, user: &str, password: &str) -> Action {
    Action::Login(Login {
        user: user.into(),
        secret: Secret::Password(password.into()),
        mechanism,
    })
}

#[test]
fn auth_plain_and_login_end_in_a_login() {
    let mut s = session(false);
    let (text, action) = send(&mut s, &format!("AUTH PLAIN {}", b64(b"\0alice\0pw")));
    assert_eq!(
        (text.as_str(), action),
        ("", password_login("PLAIN", "alice", "pw"))
    );
    let mut s = session(false);
    assert_eq!(send(&mut s, "AUTH PLAIN").0, "+ \r\n");
    assert_eq!(
        send(&mut s, &b64(b"\0alice\0pw")).1,
        password_login("PLAIN", "alice", "pw")
    );
    let mut s = session(false);
    assert_eq!(send(&mut s, "AUTH LOGIN").0, "+ VXNlcm5hbWU6\r\n");
    assert_eq!(send(&mut s, &b64(b"alice")).0, "+ UGFzc3dvcmQ6\r\n");
    assert_eq!(
        send(&mut s, &b64(b"pw")).1,
        password_login("LOGIN", "alice", "pw")
    );
}

#[test]
fn auth_cancel_unknown_and_listing() {
    let mut s = session(false);
    send(&mut s, "AUTH LOGIN");
    assert_eq!(send(&mut s, "*").0, "-ERR Authentication cancelled.\r\n");
    assert_eq!(
        send(&mut s, "NOOP").0,
        "-ERR Not allowed before login.\r\n",
        "back to commands"
    );
    dialogue(
        &mut s,
        &[
            (
                "AUTH CRAM-MD5",
                "-ERR Unsupported authentication mechanism.\r\n",
            ),
            ("AUTH", "+OK Mechanisms follow\r\nPLAIN\r\nLOGIN\r\n.\r\n"),
        ],
    );
    let mut refused = session_on(false, PLAINTEXT_ONLY_WITH_TLS);
    assert_eq!(
        send(&mut refused, "AUTH").0,
        "+OK Mechanisms follow\r\n.\r\n"
    );
}

#[test]
fn a_too_long_sasl_response_ends_the_exchange() {
    let mut s = session(false);
    send(&mut s, "AUTH PLAIN");
    let mut out = Vec::new();
    s.line_too_long(&mut out);
    assert_eq!(out, b"-ERR Command line too long.\r\n");
    assert_eq!(send(&mut s, "QUIT").1, Action::Close);
}

#[test]
fn plaintext_policy_refuses_user_and_sasl_but_not_apop() {
    let mut s = session_on(true, PLAINTEXT_ONLY_WITH_TLS);
    let refused = "-ERR [AUTH] Plaintext authentication is not allowed without TLS; use STLS.\r\n";
    assert_eq!(send(&mut s, "USER alice").0, refused);
    assert_eq!(send(&mut s, "AUTH PLAIN").0, refused);
    let capa = send(&mut s, "CAPA").0;
    assert!(
        !capa.contains("\r\nUSER\r\n") && !capa.contains("SASL") && capa.contains("STLS"),
        "{capa}"
    );
    assert!(matches!(
        send(&mut s, "APOP alice 0123456789abcdef0123456789abcdef").1,
        Action::Login(_)
    ));
    // After STLS the same connection may use passwords.
    assert_eq!(
        send(&mut s, "STLS"),
        ("+OK Begin TLS negotiation.\r\n".into(), Action::StartTls)
    );
    s.tls_started();
    assert_eq!(send(&mut s, "USER alice").0, "+OK Send PASS.\r\n");
}

#[test]
fn stls_only_once_and_only_before_login() {
    let mut s = session(false);
    send(&mut s, "USER alice");
    assert_eq!(send(&mut s, "STLS").1, Action::StartTls);
    s.tls_started();
    assert_eq!(
        send(&mut s, "PASS pw").0,
        "-ERR No user name given, send USER first.\r\n",
        "USER before TLS is forgotten"
    );
    assert_eq!(send(&mut s, "STLS").0, "-ERR TLS is already active.\r\n");
    assert!(!send(&mut s, "CAPA").0.contains("STLS"));
    let mut s = logged_in(&[]);
    assert_eq!(send(&mut s, "STLS").0, "-ERR Already logged in.\r\n");
    let mut no_tls = Session::new(
        Arc::new(SessionConfig {
            tls_available: false,
            ..Arc::unwrap_or_clone(config(false))
        }),
        Arc::new(LoginTracker::default()),
        1,
        0,
        PLAINTEXT_ALLOWED,
    );
    assert_eq!(
        send(&mut no_tls, "STLS").0,
        "-ERR STLS is not available.\r\n"
    );
}

#[test]
fn too_many_failures_close_the_connection() {
    let mut s = session(false);
    let login = Login {
        user: "alice".into(),
        secret: Secret::Password("x".into()),
        mechanism: "USER",
    };
    for attempt in 1..=3 {
        let outcome = s.login_done(
            &login,
            Err(PopError::auth("wrong")),
            Instant::now(),
            &mut Vec::new(),
        );
        assert_eq!(
            outcome,
            LoginOutcome::Refused {
                bad_credentials: true,
                close: attempt == 3
            }
        );
    }
    assert_eq!(send(&mut s, "NOOP").1, Action::Close);
}

#[test]
fn a_proxy_header_from_an_untrusted_client_closes() {
    let mut s = session(false);
    let (text, action) = send(&mut s, "PROXY TCP4 1.2.3.4 5.6.7.8 1111 110");
    assert_eq!(action, Action::Close);
    assert!(text.starts_with("-ERR PROXY header not accepted"));
}

#[test]
fn utf8_is_accepted_before_login() {
    let mut s = session(false);
    assert_eq!(send(&mut s, "UTF8").0, "+OK UTF8 enabled.\r\n");
    assert!(send(&mut s, "CAPA").0.contains("\r\nUTF8 USER\r\n"));
}

#[test]
fn the_marks_standing_and_a_quit_are_told_for_the_summary() {
    let mut s = logged_in(&[10, 20, 30]);
    assert_eq!(s.marked_count(), 0);
    send(&mut s, "DELE 1");
    send(&mut s, "DELE 3");
    send(&mut s, "DELE 3");
    assert_eq!(s.marked_count(), 2);
    send(&mut s, "RSET");
    assert_eq!(s.marked_count(), 0);
    send(&mut s, "DELE 2");
    assert!(!s.quit_received());
    assert_eq!(
        send(&mut s, "QUIT").1,
        Action::Update(vec![(1, "id-2".into())])
    );
    assert!(s.quit_received());

    let mut s = session(false);
    send(&mut s, "NOOP");
    assert!(!s.quit_received());
    assert_eq!(send(&mut s, "QUIT").1, Action::Close);
    assert!(s.quit_received());
    assert_eq!(s.marked_count(), 0);
}
