//! The SASL decoders on arbitrary responses: no panic, and credentials only from a well-formed
//! PLAIN message or a LOGIN exchange.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3host::protocol::sasl::{Exchange, Mechanism, Step};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (initial, rest) = text.split_once('\n').unwrap_or((&text, ""));
    for mechanism in Mechanism::ALL {
        let (mut exchange, mut step) = Exchange::start(mechanism, Some(initial));
        for response in rest.split('\n') {
            if !matches!(step, Step::Challenge(_)) {
                break;
            }
            step = exchange.respond(response);
        }
        if let Step::Credentials { user, .. } = step {
            assert!(mechanism == Mechanism::Login || !user.is_empty());
        }
    }
});
