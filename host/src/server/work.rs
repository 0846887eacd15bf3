//! The backend work behind each session action, as blocking functions: the server runs them
//! on its blocking pool, and `pop3host check` calls them directly, so both exercise a plugin
//! the same way.

use crate::session::{Granted, Login, Secret, Transfer};
use pop3_plugin_api::host::{BackendHandle, MailboxHandle, ReaderHandle};
use pop3_plugin_api::SizeCounter;
use pop3_plugin_api::{Connection, Maildrop, MessageRef, PopError};

/// USER/PASS, SASL or APOP, then the message list: one backend call, so one hand-off to the
/// blocking pool per login instead of two. The mailbox comes with the user's own LOGIN-DELAY
/// and EXPIRE, and the maildrop it opened (by default the user name as typed).
pub fn login(
    backend: &BackendHandle,
    login: &Login,
    conn: &Connection,
) -> Result<(MailboxHandle, Granted, Maildrop), PopError> {
    let user = login.user.as_str();
    let mut mailbox = match &login.secret {
        Secret::Password(password) => backend.authenticate(user, password, conn)?,
        Secret::Apop { digest, timestamp } => backend.apop(user, digest, timestamp, conn)?,
    };
    let maildrop = mailbox
        .maildrop()
        .unwrap_or_else(|| Maildrop::Exclusive(user.to_string()));
    let granted = Granted {
        messages: list_with_sizes(&mut mailbox)?,
        login_delay: backend.login_delay(Some(user)),
        expire: backend.expire(Some(user)),
    };
    Ok((mailbox, granted, maildrop))
}

/// A reader for RETR, or for TOP through the backend's `top` when it has one.
pub fn open(mailbox: &mut MailboxHandle, transfer: &Transfer) -> Result<ReaderHandle, PopError> {
    let msg = message(transfer);
    match transfer
        .top
        .map(|lines| mailbox.top(msg, lines))
        .transpose()?
        .flatten()
    {
        Some(reader) => Ok(reader),
        None => mailbox.retrieve(msg),
    }
}

/// The `retrieve` calls still due for RETRs served from a prefetch (see
/// `pop3_plugin_api::Backend::PREFETCH`), in the order the client retrieved them, their readers
/// dropped unread. The client has the messages: an error now only costs the backend its
/// record of one.
pub fn retrieve_owed(mailbox: &mut MailboxHandle, owed: &[Transfer]) {
    for transfer in owed {
        match mailbox.retrieve(message(transfer)) {
            Ok(_) => tracing::debug!(message = transfer.id, "retrieve after a prefetch made"),
            Err(error) => tracing::debug!(
                message = transfer.id,
                "retrieve after a prefetch failed: {}",
                error.message
            ),
        }
    }
}

/// A prefetch: the whole message through `top` with `u32::MAX` lines, as
/// `pop3_plugin_api::Backend::PREFETCH` promises, if the backend has a `top`. Errors are left
/// for the client's own RETR to meet.
pub fn prefetch(mailbox: &mut MailboxHandle, transfer: &Transfer) -> Option<ReaderHandle> {
    mailbox.top(message(transfer), u32::MAX).ok().flatten()
}

fn message(transfer: &Transfer) -> MessageRef<'_> {
    MessageRef {
        index: transfer.index,
        id: &transfer.id,
    }
}

/// UPDATE: deletes the marked messages (as the session lists them), then drops the mailbox,
/// which releases the plugin's lock before the client hears the reply (RFC 1939 §6).
pub fn update(mut mailbox: MailboxHandle, marked: &[(usize, String)]) -> Result<(), PopError> {
    let msgs: Vec<MessageRef<'_>> = marked
        .iter()
        .map(|(index, id)| MessageRef { index: *index, id })
        .collect();
    let deleted = mailbox.delete(&msgs);
    drop(mailbox);
    deleted
}

/// Read size when measuring a message.
const CHUNK: usize = 64 * 1024;

/// The message list at login with every size resolved: from the list when the backend gave
/// it, else from the backend's `size`, else by reading the message once and counting.
fn list_with_sizes(mailbox: &mut MailboxHandle) -> Result<Vec<(String, u64)>, PopError> {
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
