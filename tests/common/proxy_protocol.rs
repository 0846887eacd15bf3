//! PROXY protocol headers, as a load balancer in front of pop3host sends them, and pop3host
//! set up to trust one on loopback.

use super::Server;

/// A PROXY v2 header from 127.0.0.1: `command` 0 LOCAL or 1 PROXY, `family` the
/// address-family/transport byte, then the addresses block.
pub fn proxy_v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.push(0x20 | command);
    header.push(family);
    header.extend((addresses.len() as u16).to_be_bytes());
    header.extend(addresses);
    header
}

/// A PROXY v2 header naming an IPv6 TCP client (port 40000).
pub fn proxy_v6(client: &str) -> Vec<u8> {
    let client: std::net::Ipv6Addr = client.parse().unwrap();
    let mut addresses = client.octets().to_vec();
    addresses.extend(std::net::Ipv6Addr::LOCALHOST.octets());
    addresses.extend(40000u16.to_be_bytes());
    addresses.extend(110u16.to_be_bytes());
    proxy_v2(1, 0x21, &addresses)
}

/// A PROXY v2 header naming an IPv4 TCP client at `port`.
pub fn proxy_v4(client: [u8; 4], port: u16) -> Vec<u8> {
    let addresses = [&client[..], &[127, 0, 0, 1], &port.to_be_bytes(), &[0, 110]].concat();
    proxy_v2(1, 0x11, &addresses)
}

/// pop3host on static-messages with `config`, taking PROXY headers from 127.0.0.1 (where
/// the tests connect from), plus `extra` arguments.
pub fn behind_proxy(config: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--proxy-protocol-from", "127.0.0.1"];
    args.extend(extra);
    Server::with_static(Some(config), &args)
}
