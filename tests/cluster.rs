//! A cluster on loopback: a real PostgreSQL, three pop3host instances with the postgres
//! plugin and `--proxy-protocol-from 127.0.0.1/32`, and a real HAProxy in TCP mode in front
//! of them sending PROXY v2, with a POP3 health check. Every client goes through HAProxy
//! only, which balances round robin, so consecutive connections land on consecutive
//! instances.

mod common;

use common::cluster::{postgres_plugin, Haproxy, Postgres};
use common::{Client, Server, DEADLINE};
use std::time::{Duration, Instant};

struct Cluster {
    // Dropped in this order: the balancer, the instances, then the database.
    haproxy: Haproxy,
    instances: Vec<Server>,
    pg: Postgres,
}

impl Cluster {
    fn start(instances: usize) -> Cluster {
        let pg = Postgres::start();
        let plugin = postgres_plugin();
        let config = pg.plugin_config(r#", "connect_timeout_seconds": 1"#);
        let instances: Vec<Server> = (0..instances)
            .map(|_| {
                Server::start(&[
                    "--plugin",
                    plugin.to_str().unwrap(),
                    "--plugin-config",
                    &config,
                    "--proxy-protocol-from",
                    "127.0.0.1/32",
                ])
            })
            .collect();
        let addrs: Vec<_> = instances.iter().map(|server| server.addr).collect();
        let haproxy = Haproxy::start(&addrs);
        Cluster {
            haproxy,
            instances,
            pg,
        }
    }

    fn client(&self) -> Client {
        Client::connect(self.haproxy.addr)
    }

    /// USER/PASS through HAProxy; returns the PASS reply and the client.
    fn try_login(&self, user: &str) -> (String, Client) {
        let mut client = self.client();
        let greeting = client.line();
        assert!(greeting.starts_with("+OK"), "{greeting}");
        assert!(client.cmd(&format!("USER {user}")).starts_with("+OK"));
        (client.cmd("PASS pw"), client)
    }

    /// The instance whose log says that the client on local port `port` logged in.
    fn instance_of(&self, port: u16) -> usize {
        let needle = format!("logged in from 127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let found: Vec<usize> = (0..self.instances.len())
                .filter(|&i| self.instances[i].log().contains(&needle))
                .collect();
            match found[..] {
                [i] => return i,
                [] => assert!(
                    started.elapsed() < DEADLINE,
                    "no instance logged {needle:?}"
                ),
                _ => panic!("several instances logged {needle:?}"),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn add_user(&self, name: &str, messages: usize) {
        self.pg.add_user(name, "{PLAIN}pw");
        for i in 0..messages {
            let message = format!("Subject: {i}\n\nmessage {i} for {name}\n");
            assert_eq!(self.pg.deliver(name, message.as_bytes()), 0);
        }
    }
}

fn local_port(client: &Client) -> u16 {
    client.writer().local_addr().unwrap().port()
}

#[test]
fn logins_land_on_every_instance_with_the_client_address_and_in_use_holds_everywhere() {
    let cluster = Cluster::start(3);
    for user in ["u0", "u1", "u2"] {
        cluster.add_user(user, 1);
    }
    let mut sessions = Vec::new();
    let mut served = Vec::new();
    for user in ["u0", "u1", "u2"] {
        let (reply, client) = cluster.try_login(user);
        assert!(reply.starts_with("+OK"), "{reply}");
        // The port is the client's own, which only the PROXY header carries: HAProxy's
        // connection to the instance has another.
        served.push(cluster.instance_of(local_port(&client)));
        sessions.push(client);
    }
    served.sort();
    assert_eq!(served, [0, 1, 2], "one login per instance");

    // u0's session is open on one instance: a second session gets [IN-USE] on all three.
    for _ in 0..3 {
        let (reply, _client) = cluster.try_login("U0");
        assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
    }
    for (i, instance) in cluster.instances.iter().enumerate() {
        assert!(
            instance.log().contains("IN-USE") || instance.log().contains("in another session"),
            "instance {i} refused no second session:\n{}",
            instance.log()
        );
    }
}

#[test]
fn kill_9_of_the_holding_instance_releases_the_lock_and_deletes_nothing() {
    let mut cluster = Cluster::start(3);
    cluster.add_user("kim", 3);
    let (reply, mut client) = cluster.try_login("kim");
    assert!(reply.starts_with("+OK"), "{reply}");
    assert!(client.cmd("DELE 1").starts_with("+OK"));
    assert!(client.cmd("DELE 2").starts_with("+OK"));
    let holder = cluster.instance_of(local_port(&client));
    cluster.instances[holder].kill();
    let killed = Instant::now();
    cluster.haproxy.wait_status(&format!("s{holder}"), "DOWN");
    let taken_out = killed.elapsed();
    // The lease is 3 s: the user is back, through another instance, within 3 s plus a
    // renewal period; we allow 8 s.
    let mut client = loop {
        let (reply, client) = cluster.try_login("kim");
        if reply.starts_with("+OK") {
            break client;
        }
        assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
        assert!(killed.elapsed() < Duration::from_secs(8), "still locked");
        std::thread::sleep(Duration::from_millis(100));
    };
    let back = killed.elapsed();
    eprintln!(
        "HAProxy took the killed instance out after {taken_out:?}; login again after {back:?}"
    );
    assert_ne!(cluster.instance_of(local_port(&client)), holder);
    assert!(
        client.cmd("STAT").starts_with("+OK 3 "),
        "nothing was deleted"
    );
    assert!(client.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn a_committed_deletion_is_seen_at_once_through_every_instance_and_login_delay_holds() {
    let cluster = Cluster::start(3);
    cluster.add_user("lea", 3);
    let (reply, mut client) = cluster.try_login("lea");
    assert!(reply.starts_with("+OK"), "{reply}");
    let first = cluster.instance_of(local_port(&client));
    assert!(client.cmd("DELE 2").starts_with("+OK"));
    assert!(client.cmd("QUIT").starts_with("+OK"));
    // Right after QUIT's +OK, the next two connections (the two other instances) see it.
    let mut seen_on = vec![first];
    for _ in 0..2 {
        let (reply, mut client) = cluster.try_login("lea");
        assert!(reply.starts_with("+OK"), "{reply}");
        seen_on.push(cluster.instance_of(local_port(&client)));
        assert!(client.cmd("STAT").starts_with("+OK 2 "));
        assert!(client.cmd("QUIT").starts_with("+OK"));
    }
    seen_on.sort();
    assert_eq!(seen_on, [0, 1, 2]);

    cluster.add_user("max", 1);
    cluster
        .pg
        .sql("UPDATE users SET login_delay = 3600 WHERE name = 'max'");
    let (reply, mut client) = cluster.try_login("max");
    assert!(reply.starts_with("+OK"), "{reply}");
    assert!(client.cmd("QUIT").starts_with("+OK"));
    for _ in 0..2 {
        let (reply, _client) = cluster.try_login("max");
        assert!(reply.starts_with("-ERR [LOGIN-DELAY]"), "{reply}");
    }
}

#[test]
fn a_postgres_restart_gives_sys_temp_loses_nothing_and_service_resumes() {
    let cluster = Cluster::start(2);
    cluster.add_user("ned", 4);
    let uidls = |client: &mut Client| {
        assert!(client.cmd("UIDL").starts_with("+OK"));
        let mut ids: Vec<String> = String::from_utf8(client.body())
            .unwrap()
            .lines()
            .map(|line| line.split(' ').nth(1).unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let (reply, mut client) = cluster.try_login("ned");
    assert!(reply.starts_with("+OK"), "{reply}");
    let before = uidls(&mut client);
    assert_eq!(before.len(), 4);
    assert!(client.cmd("DELE 1").starts_with("+OK"));

    cluster.pg.stop();
    let reply = client.cmd("RETR 2");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
    let reply = client.cmd("QUIT");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");
    let (reply, _client) = cluster.try_login("ned");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "{reply}");

    cluster.pg.start_again();
    let restarted = Instant::now();
    // Back by itself: the pool replaces its broken connections; the lock of the session
    // that ended while the database was down expires with its 3 s lease.
    let mut client = loop {
        let (reply, client) = cluster.try_login("ned");
        if reply.starts_with("+OK") {
            break client;
        }
        assert!(
            reply.starts_with("-ERR [IN-USE]") || reply.starts_with("-ERR [SYS/TEMP]"),
            "{reply}"
        );
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "not back: {reply}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("service back {:?} after PostgreSQL", restarted.elapsed());
    assert_eq!(uidls(&mut client), before, "nothing lost or duplicated");
    assert!(client.cmd("QUIT").starts_with("+OK"));
}
