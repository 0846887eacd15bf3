//! The PROXY header parser on arbitrary bytes: no panic, a header never longer than its
//! input, and byte-exact reading never asks for bytes past a complete header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3host::protocol::proxy_header::{parse, readable, Parsed};

fuzz_target!(|data: &[u8]| {
    let mut end = 0;
    loop {
        match parse(&data[..end]) {
            Parsed::Header { length, .. } => {
                assert_eq!(length, end, "exact reads end exactly at the header");
                return;
            }
            Parsed::Invalid(_) => return,
            Parsed::Incomplete if end == data.len() => return,
            Parsed::Incomplete => end = (end + readable(&data[..end])).min(data.len()),
        }
    }
});
