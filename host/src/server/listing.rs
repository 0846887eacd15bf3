//! The message list at login, with every size resolved: from the list when the backend gave
//! it, else from the backend's `size`, else by reading the message once and counting. Runs
//! inside one blocking call.

use crate::protocol::body::SizeCounter;
use pop3_plugin_api::host::MailboxHandle;
use pop3_plugin_api::{MessageRef, PopError};

/// Read size when measuring a message.
const CHUNK: usize = 64 * 1024;

pub fn list_with_sizes(mailbox: &mut MailboxHandle) -> Result<Vec<(String, u64)>, PopError> {
    let list = mailbox.list()?;
    let mut messages = Vec::with_capacity(list.len());
    for (index, info) in list.into_iter().enumerate() {
        let size = match info.size {
            Some(size) => size,
            None => {
                let msg = MessageRef {
                    index,
                    id: &info.id,
                };
                match mailbox.size(msg)? {
                    Some(size) => size,
                    None => measure(mailbox, msg)?,
                }
            }
        };
        messages.push((info.id, size));
    }
    Ok(messages)
}

fn measure(mailbox: &mut MailboxHandle, msg: MessageRef<'_>) -> Result<u64, PopError> {
    let mut reader = mailbox.retrieve(msg)?;
    let mut counter = SizeCounter::default();
    let mut buf = vec![0; CHUNK];
    loop {
        match reader.read(&mut buf)? {
            0 => return Ok(counter.total()),
            n => counter.add(&buf[..n]),
        }
    }
}
