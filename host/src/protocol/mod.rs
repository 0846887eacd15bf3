//! The POP3 wire protocol, sans I/O: parsing command lines, encoding replies and message
//! bodies. Everything here works on byte slices and is tested without sockets.

pub mod body;
pub mod capa;
pub mod command;
pub mod lines;
pub mod proxy_header;
#[cfg(any(test, feature = "fuzzing"))]
pub mod reference;
pub mod reply;
pub mod sasl;
pub mod uidl;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod splits;
