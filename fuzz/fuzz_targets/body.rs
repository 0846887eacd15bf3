//! The CRLF and dot-stuffing encoder against the slow reference, in two pieces, for RETR and
//! for TOP.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3host::protocol::body::BodyEncoder;
use pop3host::protocol::reference;

fuzz_target!(|data: &[u8]| {
    let Some((&control, message)) = data.split_first() else { return };
    let top = (control & 0x80 != 0).then_some(u32::from(control & 0x07));
    let cut = usize::from(control & 0x7f) % (message.len() + 1);
    let mut encoder = top.map_or_else(BodyEncoder::whole, BodyEncoder::top);
    let mut wire = Vec::new();
    encoder.encode(&message[..cut], &mut wire);
    encoder.encode(&message[cut..], &mut wire);
    encoder.finish(&mut wire);
    assert_eq!(wire, reference::encode(message, top, true));
});
