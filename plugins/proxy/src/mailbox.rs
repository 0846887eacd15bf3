//! One session's maildrop: a logged-in upstream session. Messages are the upstream's, RETR
//! and TOP stream from it, and deletions reach it only through [`Mailbox::delete`], which
//! the host calls when the client QUITs. A mailbox dropped any other way closes the upstream
//! connection without QUIT, so the upstream deletes nothing either.

use crate::config::Timeouts;
use crate::endpoint::Endpoint;
use crate::link::{lock, Link, SharedLink};
use crate::listing;
use crate::reader::BodyReader;
use crate::received::Stamp;
use crate::upstream::Upstream;
use pop3_plugin_api::{
    debug, warn, Mailbox, MessageInfo, MessageReader, MessageRef, PopError, ResponseCode,
};
use std::io::{Cursor, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct ProxyMailbox {
    link: SharedLink,
    label: String,
    /// Shuts the socket down when the mailbox is dropped, even while a reader blocked in a
    /// read holds the link.
    closer: Option<TcpStream>,
    /// With `add_received`: the session's stamp, and the header of each listed message.
    stamp: Option<Stamp>,
    headers: Vec<Arc<[u8]>>,
    /// The size the upstream listed for each message, which bounds its body.
    sizes: Vec<u64>,
}

impl ProxyMailbox {
    /// Connects to `endpoint` and logs in as `user`, all before `deadline`. Any plain `-ERR`
    /// to the login is `[AUTH]`; a coded one keeps its code. On failure the connection is
    /// dropped, and with it the socket.
    pub fn open(
        endpoint: &Endpoint,
        timeouts: &Timeouts,
        deadline: Instant,
        user: &str,
        password: &str,
        stamp: Option<Stamp>,
    ) -> Result<Self, PopError> {
        let label = endpoint.address.to_string();
        let mut upstream = Upstream::open(endpoint, timeouts, deadline)
            .map_err(|failure| failure.into_pop(&label, "connecting", ResponseCode::SYS_TEMP))?;
        upstream
            .login(user, password)
            .map_err(|failure| failure.into_pop(&label, "login", ResponseCode::AUTH))?;
        let closer = upstream.closer().ok();
        let link = Link::new(label.clone(), upstream, timeouts.call);
        debug!(
            "proxy: {user} logged in at {label} ({})",
            endpoint.security.name()
        );
        Ok(Self {
            link: Arc::new(Mutex::new(link)),
            label,
            closer,
            stamp,
            headers: Vec::new(),
            sizes: Vec::new(),
        })
    }

    /// RETR or TOP: sends `command` and returns its body, after the message's `Received:`
    /// header if any.
    fn body(&mut self, msg: MessageRef<'_>, command: String) -> Result<MessageReader, PopError> {
        let mut link = lock(&self.link);
        link.run(&command, ResponseCode::NONE, |upstream| {
            upstream.command(&command)
        })?;
        let size = self.sizes.get(msg.index).copied().unwrap_or_default();
        let body = BodyReader::new(Arc::clone(&self.link), link.begin_body(command, size));
        let header = self.headers.get(msg.index).cloned().unwrap_or_default();
        Ok(Box::new(Cursor::new(header).chain(body)))
    }
}

impl Mailbox for ProxyMailbox {
    fn list(&mut self) -> Result<Vec<MessageInfo>, PopError> {
        let listing = lock(&self.link).run("UIDL and LIST", ResponseCode::NONE, listing::fetch)?;
        if !listing.upstream_ids {
            warn!(
                "proxy: upstream {} has no UIDL: ids are derived from message headers and may \
                 change, so clients that leave mail on the server may download it again",
                self.label
            );
        }
        if let Some(duplicates) = &listing.duplicates {
            warn!(
                "proxy: upstream {} lists an id more than once ({:?} first): {} later \
                 cop(ies) served with their message number added, so that ids are unique",
                self.label, duplicates.first, duplicates.renamed
            );
        }
        self.sizes = listing.messages.iter().map(|m| m.size).collect();
        self.headers = match &self.stamp {
            Some(stamp) => listing
                .messages
                .iter()
                .map(|m| stamp.header(&m.id).into())
                .collect(),
            None => Vec::new(),
        };
        let info = |(i, m): (usize, listing::Listed)| {
            let header = self.headers.get(i).map_or(0, |h| h.len() as u64);
            MessageInfo::new(m.id, Some(m.size + header))
        };
        Ok(listing.messages.into_iter().enumerate().map(info).collect())
    }

    fn retrieve(&mut self, msg: MessageRef<'_>) -> Result<MessageReader, PopError> {
        self.body(msg, format!("RETR {}", msg.index + 1))
    }

    /// Through the upstream's TOP. TOP is optional (RFC 1939 §7): a plain `-ERR` makes the
    /// host cut RETR instead (and a message that is really gone then fails there).
    fn top(&mut self, msg: MessageRef<'_>, lines: u32) -> Result<Option<MessageReader>, PopError> {
        match self.body(msg, format!("TOP {} {lines}", msg.index + 1)) {
            Err(refused) if refused.code == ResponseCode::NONE => Ok(None),
            result => result.map(Some),
        }
    }

    /// DELE for each marked message, then QUIT: the upstream's UPDATE. A refused DELE still
    /// lets the others go; the client then hears that some messages were not removed.
    fn delete(&mut self, msgs: &[MessageRef<'_>]) -> Result<(), PopError> {
        let commands: Vec<String> = msgs
            .iter()
            .map(|m| format!("DELE {}", m.index + 1))
            .collect();
        let mut link = lock(&self.link);
        let refused = link.run("UPDATE", ResponseCode::NONE, |upstream| {
            let answers = upstream.pipeline(&commands, |upstream, _| upstream.status())?;
            upstream.command("QUIT")?;
            Ok(answers
                .into_iter()
                .filter_map(Result::err)
                .collect::<Vec<_>>())
        });
        link.close("logged out");
        let refused = refused?;
        match refused.first() {
            None => Ok(()),
            Some(first) => Err(PopError::plain(format!(
                "{} of {} messages not removed: {}",
                refused.len(),
                msgs.len(),
                first.text
            ))),
        }
    }
}

impl Drop for ProxyMailbox {
    fn drop(&mut self) {
        if let Some(closer) = &self.closer {
            let _ = closer.shutdown(Shutdown::Both);
        }
        lock(&self.link).close("the session ended without QUIT");
    }
}
