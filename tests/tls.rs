//! TLS session resumption and certificate kinds, against the real binary with a rustls client
//! (Python's `ssl` cannot say whether a handshake was resumed as rustls' `handshake_kind`
//! does). A client that keeps its sessions reconnects and must resume: TLS 1.3 by ticket, TLS
//! 1.2 by session ID and by ticket, on the implicit-TLS port and after STLS.

mod common;

use common::metrics::{metrics_addr, sample, wait_for};
use common::{Server, TempDir, DEADLINE};
use rustls::client::{Resumption, Tls12Resumption};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, ProtocolVersion, RootCertStore};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

/// A CA and a certificate for `localhost` it signed with a key of `algorithm`, as PEM files in
/// `dir`; returns (CA file, certificate file, key file).
fn certificate(
    dir: &TempDir,
    algorithm: &'static rcgen::SignatureAlgorithm,
) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate_for(algorithm).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate_for(algorithm).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let paths = ["ca.pem", "cert.pem", "key.pem"].map(|name| dir.join(name));
    std::fs::write(&paths[0], ca.pem()).unwrap();
    std::fs::write(&paths[1], cert.pem()).unwrap();
    std::fs::write(&paths[2], key.serialize_pem()).unwrap();
    paths.map(|path| path.to_str().unwrap().to_string()).into()
}

/// pop3host on the static plugin's built-in mailbox (user `test`, password `test`) with a
/// plain listener (STLS), an implicit-TLS one and metrics, and the CA file that verifies it.
fn tls_server(dir: &TempDir, algorithm: &'static rcgen::SignatureAlgorithm) -> (Server, String) {
    let (ca, cert, key) = certificate(dir, algorithm);
    let args = [
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    (Server::with_static(None, &args), ca)
}

/// A client that verifies the server against `ca` and keeps its sessions (rustls' in-memory
/// cache): what a mail client that polls does.
fn client_config(
    ca: &str,
    version: &'static rustls::SupportedProtocolVersion,
    tls12: Tls12Resumption,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = Resumption::in_memory_sessions(16).tls12_resumption(tls12);
    Arc::new(config)
}

#[derive(Clone, Copy, Debug)]
enum Port {
    Implicit,
    Stls,
}

/// One whole session: TLS (on the TLS port, or after STLS on the plain one), login, STAT,
/// QUIT, and the server's close, so that tickets sent after the handshake are read; the close
/// must come with a close_notify (rustls reports an end without one as an error). Returns the
/// kind of handshake and the protocol version.
fn session(server: &Server, port: Port, config: &Arc<ClientConfig>) -> (HandshakeKind, u16) {
    let addr = match port {
        Port::Implicit => server.tls_addr.expect("a TLS listener"),
        Port::Stls => server.addr,
    };
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    tcp.set_write_timeout(Some(DEADLINE)).unwrap();
    if let Port::Stls = port {
        let mut plain = BufReader::new(tcp.try_clone().unwrap());
        assert!(line(&mut plain).starts_with("+OK"));
        tcp.write_all(b"STLS\r\n").unwrap();
        assert_eq!(line(&mut plain), "+OK Begin TLS negotiation.");
        assert!(
            plain.buffer().is_empty(),
            "nothing may follow the STLS reply"
        );
    }
    let name = ServerName::try_from("localhost").unwrap();
    let connection = ClientConnection::new(config.clone(), name).unwrap();
    let mut tls = BufReader::new(rustls::StreamOwned::new(connection, tcp));
    if let Port::Implicit = port {
        assert!(line(&mut tls).starts_with("+OK"));
    }
    for (command, reply) in [
        ("USER test", "+OK"),
        ("PASS test", "+OK Logged in"),
        ("STAT", "+OK "),
        ("QUIT", "+OK Logging out"),
    ] {
        tls.get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
        let got = line(&mut tls);
        assert!(got.starts_with(reply), "{command}: {got}");
    }
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    let connection = &tls.get_ref().conn;
    let kind = connection.handshake_kind().expect("the handshake is done");
    let version = connection.protocol_version().map(ProtocolVersion::into);
    (kind, version.expect("a version"))
}

fn line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.ends_with("\r\n"), "{line:?}");
    line.trim_end().to_string()
}

/// Two sessions with one client: the first a full handshake, the second resumed, both of
/// `version`.
fn resumes(server: &Server, ca: &str, port: Port, tls12: Tls12Resumption, version: u16) {
    let supported = if version == u16::from(ProtocolVersion::TLSv1_3) {
        &rustls::version::TLS13
    } else {
        &rustls::version::TLS12
    };
    let config = client_config(ca, supported, tls12);
    let what = format!("{port:?}, version {version:#x}, {tls12:?}");
    assert_eq!(
        session(server, port, &config),
        (HandshakeKind::Full, version),
        "{what}: first"
    );
    assert_eq!(
        session(server, port, &config),
        (HandshakeKind::Resumed, version),
        "{what}: second"
    );
}

const TLS13: u16 = 0x0304;
const TLS12: u16 = 0x0303;

#[test]
fn a_returning_client_resumes_on_tls_1_3_and_1_2_implicit_and_stls() {
    let dir = TempDir::new("tls-resume");
    let (server, ca) = tls_server(&dir, &rcgen::PKCS_ECDSA_P256_SHA256);
    for port in [Port::Implicit, Port::Stls] {
        // TLS 1.3: tickets (the only way it resumes).
        resumes(
            &server,
            &ca,
            port,
            Tls12Resumption::SessionIdOrTickets,
            TLS13,
        );
        // TLS 1.2: by session ID (the server's cache), and by ticket when the client asks.
        resumes(&server, &ca, port, Tls12Resumption::SessionIdOnly, TLS12);
        resumes(
            &server,
            &ca,
            port,
            Tls12Resumption::SessionIdOrTickets,
            TLS12,
        );
    }
    // Six handshakes on each port, three of them resumed, and the metrics say so.
    let metrics = wait_for(metrics_addr(&server), "/metrics", |_, m| {
        sample(m, "pop3host_connections_open") == 0.0
    });
    for kind in ["implicit", "stls"] {
        let handshakes = format!("pop3host_tls_handshakes_total{{kind=\"{kind}\",result=\"ok\"}}");
        let resumed = format!("pop3host_tls_resumed_handshakes_total{{kind=\"{kind}\"}}");
        for (series, expected) in [(handshakes, 6.0), (resumed, 3.0)] {
            assert_eq!(
                sample(&metrics, &series),
                expected,
                "{series} in\n{metrics}"
            );
        }
    }
}

#[test]
fn resumption_outlives_a_certificate_reload() {
    let dir = TempDir::new("tls-reload");
    let (server, ca) = tls_server(&dir, &rcgen::PKCS_ECDSA_P256_SHA256);
    let reloads = [
        (&rustls::version::TLS13, Tls12Resumption::SessionIdOrTickets),
        (&rustls::version::TLS12, Tls12Resumption::SessionIdOnly),
    ];
    for (reloaded, (version, tls12)) in reloads.into_iter().enumerate() {
        let config = client_config(&ca, version, tls12);
        assert_eq!(
            session(&server, Port::Implicit, &config).0,
            HandshakeKind::Full
        );
        server.signal("HUP");
        server.wait_for_log_count("reloaded the TLS certificate", reloaded + 1);
        assert_eq!(
            session(&server, Port::Implicit, &config).0,
            HandshakeKind::Resumed,
            "{tls12:?}"
        );
    }
}

#[test]
fn ecdsa_p256_and_p384_certificates_work() {
    for algorithm in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
    ] {
        let dir = TempDir::new("tls-ecdsa");
        let (server, ca) = tls_server(&dir, algorithm);
        let versions = [
            (&rustls::version::TLS13, TLS13),
            (&rustls::version::TLS12, TLS12),
        ];
        for (version, expected) in versions {
            for port in [Port::Implicit, Port::Stls] {
                // A client of its own each time: it has no session to resume.
                let config = client_config(&ca, version, Tls12Resumption::SessionIdOrTickets);
                assert_eq!(
                    session(&server, port, &config),
                    (HandshakeKind::Full, expected),
                    "{algorithm:?} {port:?}"
                );
            }
        }
    }
}
