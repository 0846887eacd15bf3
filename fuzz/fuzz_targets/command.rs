//! The command line splitter and parser, fed arbitrary bytes in arbitrary pieces: no panic,
//! and the same lines however the input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3host::protocol::command::Command;
use pop3host::protocol::lines::{Line, LineBuffer};

fn lines(pieces: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
    let mut buffer = LineBuffer::new(256);
    let mut lines = Vec::new();
    for piece in pieces {
        buffer.extend(piece);
        while let Some(line) = buffer.next_line() {
            lines.push(match line {
                Line::Complete(bytes) => {
                    let _ = Command::parse(bytes);
                    Some(bytes.to_vec())
                }
                Line::TooLong => None,
            });
        }
    }
    lines
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let cut = usize::from(split) % (input.len() + 1);
    let (a, b) = input.split_at(cut);
    assert_eq!(lines(&[a, b]), lines(&[input]));
});
