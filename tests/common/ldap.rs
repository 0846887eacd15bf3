//! A real OpenLDAP server (Debian's `slapd`) for the maildir plugin's ldap driver: a
//! temporary slapd.conf and mdb database loaded with `slapadd`, listening on free loopback
//! ports (plain LDAP, where StartTLS is offered when TLS is set up, and LDAPS). slapd runs in
//! the foreground (`-d 0`) as a [`Guarded`] child, so it is killed when the value drops, also
//! when a test fails; every start waits for the port with a deadline.

use super::cluster::free_port;
use super::process::{run, Guarded};
use super::{TempDir, DEADLINE};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SLAPD: &str = "/usr/sbin/slapd";

/// The directory's suffix; the people are under `ou=people`.
pub const SUFFIX: &str = "dc=example,dc=org";
/// The service account that may read passwords (see the ACL in [`Slapd::start`]).
pub const SERVICE_DN: &str = "cn=pop3host,dc=example,dc=org";
pub const SERVICE_PASSWORD: &str = "service-secret";

/// The schema: posixAccount and inetOrgPerson, and qmail's mailMessageStore (a user's own
/// maildir) in an auxiliary class of the test's.
const SCHEMA: &str = r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
attributetype ( 1.3.6.1.4.1.32058.1.1 NAME 'mailMessageStore'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.32058.2.1 NAME 'pop3hostMailUser' AUXILIARY MAY mailMessageStore )
"#;

/// A TLS certificate and key for slapd (PEM), and the CA that signed it.
pub struct Tls {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

pub struct Slapd {
    dir: TempDir,
    pub port: u16,
    pub tls_port: Option<u16>,
    child: Option<Guarded>,
}

impl Slapd {
    /// slapd with the base entries, the service account and `people` (LDIF entries under
    /// `ou=people`), passwords as given in the LDIF.
    pub fn start(people: &str, tls: Option<&Tls>) -> Slapd {
        assert!(
            Path::new(SLAPD).exists(),
            "{SLAPD} is missing: install slapd (.ci/run does it)"
        );
        let dir = TempDir::new("slapd");
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let tls_settings = match tls {
            Some(tls) => {
                for (name, pem) in [
                    ("ca.pem", &tls.ca),
                    ("cert.pem", &tls.cert),
                    ("key.pem", &tls.key),
                ] {
                    std::fs::write(dir.join(name), pem).unwrap();
                }
                format!(
                    "TLSCACertificateFile {0}/ca.pem\nTLSCertificateFile {0}/cert.pem\n\
                     TLSCertificateKeyFile {0}/key.pem\n",
                    dir.display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "{SCHEMA}pidfile {dir}/slapd.pid\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             {tls_settings}\
             database mdb\nsuffix \"{SUFFIX}\"\nrootdn \"cn=admin,{SUFFIX}\"\n\
             directory {dir}/db\nmaxsize 10485760\n\
             access to attrs=userPassword\n  by dn.exact=\"{SERVICE_DN}\" read\n  by anonymous auth\n  by * none\n\
             access to *\n  by * read\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("slapd.conf"), config).unwrap();
        let service_hash = hash(SERVICE_PASSWORD);
        let ldif = format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: pop3host\nuserPassword: {service_hash}\n\n{people}"
        );
        std::fs::write(dir.join("data.ldif"), ldif).unwrap();
        run(Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(dir.join("slapd.conf"))
            .arg("-l")
            .arg(dir.join("data.ldif")));
        let mut slapd = Slapd {
            dir,
            port: free_port(),
            tls_port: tls.map(|_| free_port()),
            child: None,
        };
        slapd.start_again();
        slapd
    }

    /// Starts slapd (again, after [`Slapd::stop`]) on the same ports, and waits until it
    /// accepts connections.
    pub fn start_again(&mut self) {
        let mut urls = format!("ldap://127.0.0.1:{}/", self.port);
        if let Some(tls_port) = self.tls_port {
            urls.push_str(&format!(" ldaps://127.0.0.1:{tls_port}/"));
        }
        let log = std::fs::File::create(self.dir.join("slapd.log")).unwrap();
        self.child = Some(Guarded::spawn(
            Command::new(SLAPD)
                .args(["-d", "0", "-h", &urls, "-f"])
                .arg(self.dir.join("slapd.conf"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        ));
        let started = Instant::now();
        let ports = [Some(self.port), self.tls_port];
        for port in ports.into_iter().flatten() {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
                let exited = self.child.as_mut().unwrap().try_wait().unwrap();
                assert!(
                    exited.is_none() && started.elapsed() < DEADLINE,
                    "slapd does not listen on {port}: {}",
                    std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Kills slapd and waits for it to be gone: the server is down.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("slapd runs");
        child.kill().unwrap();
        child.wait(DEADLINE);
    }

    /// Applies `ldif` (LDIF change records) with slapmodify while slapd is stopped, then
    /// starts it again on the same ports: the directory changed under the plugin's feet.
    pub fn modify(&mut self, ldif: &str) {
        self.stop();
        std::fs::write(self.dir.join("change.ldif"), ldif).unwrap();
        run(Command::new("/usr/sbin/slapmodify")
            .arg("-f")
            .arg(self.dir.join("slapd.conf"))
            .arg("-l")
            .arg(self.dir.join("change.ldif")));
        self.start_again();
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) slapd: a server that accepts connections and
    /// answers nothing.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("slapd runs").id().to_string();
        let signal = if frozen { "-STOP" } else { "-CONT" };
        run(Command::new("kill").args([signal, &pid]));
    }

    /// Waits until a request sits unread on one of slapd's connections on the plain port
    /// (while it is frozen): a client's check is under way.
    pub fn wait_for_unread_request(&self) {
        let local = format!("0100007F:{:04X}", self.port);
        let started = Instant::now();
        loop {
            let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
            // sl local rem st tx_queue:rx_queue ...; st 01 is ESTABLISHED.
            let unread = table.lines().skip(1).any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let rx_queue = fields.get(4).and_then(|queues| queues.split(':').nth(1));
                fields.get(1) == Some(&local.as_str())
                    && fields.get(3) == Some(&"01")
                    && rx_queue.is_some_and(|rx| rx != "00000000")
            });
            if unread {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no request reached slapd on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn ldaps_url(&self) -> String {
        format!(
            "ldaps://127.0.0.1:{}",
            self.tls_port.expect("slapd has TLS")
        )
    }

    /// A file in slapd's directory (the CA, for `ca_file`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        // A frozen slapd dies of SIGKILL all the same (the Guarded child's drop).
        self.child.take();
    }
}

/// `password` as an `{SSHA}` userPassword, by slapd's own slappasswd.
pub fn hash(password: &str) -> String {
    run(Command::new("/usr/sbin/slappasswd").args(["-h", "{SSHA}", "-s", password]))
        .trim()
        .to_string()
}
