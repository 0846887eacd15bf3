//! Conversions between the author's types and the ABI's, used by both sides of the boundary
//! (the ones only the host needs are behind the `host` feature).

use crate::ffi::{
    FfiConnection, FfiConnectionDetails, FfiError, FfiMaildrop, FfiMessageInfo, FfiMessageRef,
    FfiPluginInfo, EXPIRE_NEVER,
};
use crate::{
    Connection, ConnectionDetails, Expire, Maildrop, MessageInfo, MessageRef, PluginInfo, PopError,
};
use abi_stable::std_types::{ROption, RStr};
use std::net::{Ipv4Addr, SocketAddr};

impl From<PopError> for FfiError {
    fn from(err: PopError) -> Self {
        Self {
            code: err.code,
            message: err.message.into(),
        }
    }
}

impl From<FfiError> for PopError {
    fn from(err: FfiError) -> Self {
        Self {
            code: err.code,
            message: err.message.into(),
        }
    }
}

#[cfg(feature = "host")]
pub(crate) fn into_result<T, U: From<T>>(
    result: abi_stable::std_types::RResult<T, FfiError>,
) -> Result<U, PopError> {
    result.into_result().map(U::from).map_err(PopError::from)
}

impl From<&Connection> for FfiConnection {
    fn from(conn: &Connection) -> Self {
        Self {
            id: conn.id,
            peer: conn.peer.to_string().into(),
            local: conn.local.to_string().into(),
            tls: conn.tls,
        }
    }
}

/// The host always sends `SocketAddr::to_string()`; the fallback only guards against a
/// foreign host.
fn parse_addr(addr: &str) -> SocketAddr {
    addr.parse()
        .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
}

impl From<&FfiConnection> for Connection {
    fn from(conn: &FfiConnection) -> Self {
        Self {
            id: conn.id,
            peer: parse_addr(&conn.peer),
            local: parse_addr(&conn.local),
            tls: conn.tls,
        }
    }
}

impl From<MessageInfo> for FfiMessageInfo {
    fn from(msg: MessageInfo) -> Self {
        Self {
            id: msg.id.into(),
            size: msg.size.into(),
        }
    }
}

impl From<FfiMessageInfo> for MessageInfo {
    fn from(msg: FfiMessageInfo) -> Self {
        Self {
            id: msg.id.into(),
            size: msg.size.into(),
        }
    }
}

impl<'a> From<MessageRef<'a>> for FfiMessageRef<'a> {
    fn from(msg: MessageRef<'a>) -> Self {
        Self {
            index: msg.index as u64,
            id: RStr::from_str(msg.id),
        }
    }
}

impl<'a> From<FfiMessageRef<'a>> for MessageRef<'a> {
    fn from(msg: FfiMessageRef<'a>) -> Self {
        Self {
            index: msg.index as usize,
            id: msg.id.as_str(),
        }
    }
}

impl From<PluginInfo> for FfiPluginInfo {
    fn from(info: PluginInfo) -> Self {
        Self {
            name: info.name.into(),
            version: info.version.into(),
            description: info.description.into(),
            config_help: info.config_help.into(),
        }
    }
}

impl From<FfiPluginInfo> for PluginInfo {
    fn from(info: FfiPluginInfo) -> Self {
        Self {
            name: info.name.into(),
            version: info.version.into(),
            description: info.description.into(),
            config_help: info.config_help.into(),
        }
    }
}

pub(crate) fn expire_to_ffi(expire: Option<Expire>) -> ROption<u32> {
    match expire {
        None => ROption::RNone,
        Some(Expire::Never) => ROption::RSome(EXPIRE_NEVER),
        Some(Expire::Days(days)) => ROption::RSome(days.min(EXPIRE_NEVER - 1)),
    }
}

#[cfg(feature = "host")]
pub(crate) fn expire_from_ffi(expire: ROption<u32>) -> Option<Expire> {
    expire.into_option().map(|days| match days {
        EXPIRE_NEVER => Expire::Never,
        days => Expire::Days(days),
    })
}

#[cfg(feature = "host")]
pub(crate) fn user_to_ffi(user: Option<&str>) -> ROption<RStr<'_>> {
    user.map(RStr::from_str).into()
}

impl From<&ConnectionDetails> for FfiConnectionDetails {
    fn from(details: &ConnectionDetails) -> Self {
        Self {
            tls_version: details.tls_version.clone().map(Into::into).into(),
            sni: details.sni.clone().map(Into::into).into(),
            local: details.local.to_string().into(),
            proxied: details.proxied,
            client_known: details.client_known,
        }
    }
}

impl From<FfiConnectionDetails> for ConnectionDetails {
    fn from(details: FfiConnectionDetails) -> Self {
        Self {
            tls_version: details.tls_version.into_option().map(Into::into),
            sni: details.sni.into_option().map(Into::into),
            local: parse_addr(&details.local),
            proxied: details.proxied,
            client_known: details.client_known,
        }
    }
}

impl From<Maildrop> for FfiMaildrop {
    fn from(maildrop: Maildrop) -> Self {
        let (name, shared) = match maildrop {
            Maildrop::Exclusive(name) => (name, false),
            Maildrop::Shared(name) => (name, true),
        };
        Self {
            name: name.into(),
            shared,
        }
    }
}

impl From<FfiMaildrop> for Maildrop {
    fn from(maildrop: FfiMaildrop) -> Self {
        let name = maildrop.name.into();
        if maildrop.shared {
            Maildrop::Shared(name)
        } else {
            Maildrop::Exclusive(name)
        }
    }
}
