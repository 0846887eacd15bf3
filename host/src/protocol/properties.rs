//! Property tests over random input: nothing here panics on any bytes, and every incremental
//! parser gives the same result however its input is split.

use super::body::BodyEncoder;
use super::command::Command;
use super::splits::lines_of;
use super::{proxy_header, reference, sasl};
use pop3_plugin_api::SizeCounter;
use proptest::prelude::*;

/// Bytes rich in what matters to POP3 framing.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop_oneof![
        4 => any::<u8>(),
        3 => Just(b'\n'),
        3 => Just(b'\r'),
        3 => Just(b'.'),
        1 => Just(b' '),
    ];
    proptest::collection::vec(interesting, 0..300)
}

/// Cut points splitting a buffer of `len` bytes into pieces.
fn splits(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([input.len()]) {
        pieces.push(input[start..cut].to_vec());
        start = cut;
    }
    pieces
}

fn unstuff(wire: &[u8]) -> Vec<u8> {
    let body = wire.strip_suffix(b".\r\n").expect("terminated");
    body.split_inclusive(|&b| b == b'\n')
        .flat_map(|l| l.strip_prefix(b".").unwrap_or(l).to_vec())
        .collect()
}

proptest! {
    #[test]
    fn the_command_parser_never_panics(line in wire_bytes()) {
        let _ = Command::parse(&line);
    }

    #[test]
    fn every_split_gives_the_same_lines(
        input in wire_bytes(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        prop_assert_eq!(lines_of(&splits(&input, &cuts), 64), lines_of(&[input], 64));
    }

    #[test]
    fn stuffed_then_unstuffed_is_the_normalised_message(
        message in wire_bytes(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        top in proptest::option::of(0u32..5),
    ) {
        let mut encoder = top.map_or_else(BodyEncoder::whole, BodyEncoder::top);
        let mut counter = SizeCounter::default();
        let mut wire = Vec::new();
        for piece in splits(&message, &cuts) {
            encoder.encode(&piece, &mut wire);
            counter.add(&piece);
        }
        encoder.finish(&mut wire);
        prop_assert_eq!(&wire, &reference::encode(&message, top, true));
        let normalised = reference::encode(&message, top, false);
        prop_assert_eq!(unstuff(&wire), &normalised[..normalised.len() - 3]);
        if top.is_none() {
            prop_assert_eq!(counter.total(), (normalised.len() - 3) as u64);
        }
    }

    #[test]
    fn sasl_responses_never_panic(
        response in "\\PC{0,80}",
        initial in proptest::option::of("[A-Za-z0-9+/=]{0,40}"),
    ) {
        for mechanism in sasl::Mechanism::ALL {
            let (mut exchange, _) = sasl::Exchange::start(mechanism, initial.as_deref());
            let _ = exchange.respond(&response);
        }
    }

    #[test]
    fn proxy_headers_never_panic_and_reading_never_overshoots(input in wire_bytes()) {
        for end in 0..=input.len() {
            let _ = proxy_header::parse(&input[..end]);
            prop_assert!(proxy_header::readable(&input[..end]) >= 1);
        }
    }
}
