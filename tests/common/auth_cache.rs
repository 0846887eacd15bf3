//! What the tests of the authentication cache (and of login timing) share: SHA512-CRYPT
//! hashes of known passwords and a timed login.

use super::{try_login, Server};
use std::time::{Duration, Instant};

/// `openssl passwd -6 -salt 'rounds=400000$slowslow' password`: 80 times the default rounds,
/// so that a verification stands far above a login's other costs and a remembered login is
/// plainly faster.
pub const SLOW_SHA512: &str = "$6$rounds=400000$slowslow$ZOQtVEhKFni/nX5wYHObhZL7173JwXfcHQ4cIGt.hZWE3sfpChWbaQeUW8oWxkRn8MaDs4dHEibUacBULT9gN.";
/// `openssl passwd -6 -salt newsalt1 newpass` (the default 5000 rounds).
pub const NEW_SHA512: &str = "$6$newsalt1$DhxaHtaeulihy8htOwpVlg5f7xc48JuCYGWkRqPMpw7lVqa2xWkUgaD6APamRCy6zpQLInMNEx0cdk3DjKvDd.";

/// `openssl passwd -6 -salt 'rounds=50000$timetime' password`: 10 times the default
/// rounds, for timing comparisons.
pub const TIMING_SHA512: &str = "$6$rounds=50000$timetime$6Eqt.OCZGahmcQRQbWw4ckbVgzh/Kclu9hvWgnDE1axfiFCcdZur56Q97x6yoeL//qez6KUsS2.9Eoo9uuAdc1";

/// Logs in, checks that the reply to PASS starts with `expected`, and returns how long the
/// login took; a session that logged in QUITs, so the maildrop is free for the next login.
pub fn login_is(server: &Server, user: &str, pass: &str, expected: &str) -> Duration {
    let started = Instant::now();
    let (mut c, reply) = try_login(server, user, pass);
    let elapsed = started.elapsed();
    assert!(
        reply.starts_with(expected),
        "{user} {pass}: {reply}\n{}",
        server.log()
    );
    if reply.starts_with("+OK") {
        assert!(c.cmd("QUIT").starts_with("+OK"));
        c.closed();
    }
    elapsed
}

/// Logs `user` in with `pass` once and then three more times, and checks that the later
/// logins, remembered, skipped the first one's SHA512-CRYPT verification of [`SLOW_SHA512`].
pub fn remembered_after_the_first_login(server: &Server, user: &str, pass: &str) {
    let first = login_is(server, user, pass, "+OK");
    let again = (0..3)
        .map(|_| login_is(server, user, pass, "+OK"))
        .min()
        .unwrap();
    assert!(
        again * 4 < first,
        "a remembered login took {again:?}, the first {first:?}"
    );
}
