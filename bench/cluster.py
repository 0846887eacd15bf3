#!/usr/bin/env python3
"""The postgres plugin, alone and behind HAProxy, against the maildir plugin, with pop3bench.

Starts a PostgreSQL 15 of its own (initdb in a temporary directory, as `nobody`; the
settings are PostgreSQL's defaults, fsync included, except loopback only on a free port),
loads one corpus both into it (`pop3host-pg import-maildir`) and into maildirs, and measures
on loopback, back to back in each run:

  maildir      pop3host with the maildir plugin, clients connect directly
  postgres     pop3host with the postgres plugin, clients connect directly
  haproxy-1    the same instance behind HAProxy (TCP mode, PROXY v2, a POP3 health check)
  haproxy-2    two instances on the same database behind HAProxy (round robin)

logins/s (64 clients at once, connect, USER/PASS, STAT, QUIT) and RETR MB/s (1 and 8
clients downloading whole mailboxes, every byte checked against the corpus), and what each
costs: the CPU seconds of every server involved, pop3host instances, PostgreSQL (a process
per connection, all counted) and HAProxy, each from a cgroup v2 of its own
(bench/server_cpu.py), per login and per GB sent, over the measurement. On a machine with
few cores the instances, the database, HAProxy and the client share them, so the cost says
more than the rate about what a second instance buys.

Corpus: login1..login64 with 10 messages of about 2 kB each (logins), bench1..bench8 with 100
messages of about 230 kB (23 MB) each (RETR); passwords `{PLAIN}password` in the database
and the passwd-file alike. HAProxy connects to the instances from 127.0.0.2, the address
they take PROXY headers from, so the same instance also serves direct clients from
127.0.0.1. pop3host settings: the defaults except --trusted-networks 127.0.0.0/8 (no
per-address limits for the loopback client) and --max-connections 20000; the postgres
plugin with its default pool of 16 connections per instance.

Run as root (PostgreSQL runs as nobody, files belong to nobody). Everything is removed at the
end (--keep keeps it).

    python3 bench/cluster.py [--runs 3] [--json results.json] [--keep] [--no-build]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import run as common
from run import free_port, log, median, terminate, wait_for_greeting
from server_cpu import CpuGroup

PG_BIN = "/usr/lib/postgresql/15/bin"
NOBODY = 65534
LOGIN_USERS, RETR_USERS = 64, 8


# ---------------------------------------------------------------------------------------------
# The servers


def as_nobody(program, *args):
    return ["runuser", "-u", "nobody", "--", os.path.join(PG_BIN, program), *map(str, args)]


class Postgres:
    def __init__(self, work):
        self.dir = os.path.join(work, "postgres")
        os.mkdir(self.dir)
        os.chown(self.dir, NOBODY, NOBODY)
        self.port = free_port()
        self.url = f"postgresql://pop3@127.0.0.1:{self.port}/postgres"
        self.cpu = CpuGroup("postgres")

    def start(self):
        data = os.path.join(self.dir, "data")
        subprocess.run(as_nobody("initdb", "--auth=trust", "--username=pop3", "--encoding=UTF8",
                                 "-D", data), check=True, capture_output=True, timeout=120)
        subprocess.run(as_nobody("pg_ctl", "-w", "-t", 60, "-D", data, "-l",
                                 os.path.join(self.dir, "log"), "-o",
                                 f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}",
                                 "start"), check=True, capture_output=True, timeout=90,
                       preexec_fn=self.cpu.enter)

    def sql(self, sql):
        subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-d", self.url, "-c", sql], check=True, capture_output=True, timeout=120)

    def stop(self):
        subprocess.run(as_nobody("pg_ctl", "-w", "-t", 60, "-m", "fast", "-D",
                                 os.path.join(self.dir, "data"), "stop"),
                       capture_output=True, timeout=90)


class Pop3host:
    """One pop3host instance; with `plugin_config` for the postgres plugin it also takes PROXY
    headers from HAProxy's 127.0.0.2."""

    def __init__(self, name, plugin, plugin_config):
        self.name, self.plugin, self.plugin_config = name, plugin, plugin_config
        self.port = free_port()
        self.proc = None
        self.cpu = CpuGroup(name)

    def start(self):
        self.log = open(os.path.join(common.WORK, f"{self.name}.log"), "ab")
        self.proc = subprocess.Popen(
            [common.POP3HOST, "--plugin", self.plugin,
             "--plugin-config", json.dumps(self.plugin_config),
             "--listen", f"127.0.0.1:{self.port}", "--max-connections", "20000",
             "--trusted-networks", "127.0.0.0/8", "--proxy-protocol-from", "127.0.0.2/32"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, preexec_fn=self.cpu.enter)
        wait_for_greeting(self.port)

    def stop(self):
        terminate(self.proc, 15)
        self.log.close()


class Haproxy:
    """HAProxy in TCP mode in front of `instances`, as examples/cluster/haproxy.cfg without
    its per-client-address stick table (the benchmark's 64 clients share one address)."""

    def __init__(self, name, instances):
        self.name, self.instances = name, instances
        self.port = free_port()
        self.proc = None
        self.cpu = CpuGroup(name)

    def start(self):
        servers = "".join(f"    server {i.name} 127.0.0.1:{i.port}\n" for i in self.instances)
        config = os.path.join(common.WORK, f"{self.name}.cfg")
        with open(config, "w") as f:
            f.write(f"""global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 660s
    timeout server 660s
frontend pop3
    bind 127.0.0.1:{self.port}
    default_backend pop3
backend pop3
    balance roundrobin
    source 127.0.0.2
    option tcp-check
    tcp-check expect string +OK
    default-server send-proxy-v2 check check-send-proxy inter 1s fall 2 rise 1
{servers}""")
        self.log = open(os.path.join(common.WORK, f"{self.name}.log"), "ab")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", config], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, preexec_fn=self.cpu.enter)
        wait_for_greeting(self.port)

    def stop(self):
        terminate(self.proc, 10)
        self.log.close()


# ---------------------------------------------------------------------------------------------
# Measuring


def cpu_by_group(groups):
    """{group name: CPU seconds} for {group name: [servers]}."""
    return {name: sum(server.cpu.seconds() for server in servers)
            for name, servers in groups.items()}


class Setup:
    """A way to reach a backend: the address clients use and the servers behind it."""

    def __init__(self, name, port, groups):
        self.name, self.port, self.groups = name, port, groups

    def measured(self, *args):
        """Runs one pop3bench benchmark against this setup; returns its result and the CPU
        seconds each group of servers spent meanwhile."""
        before = cpu_by_group(self.groups)
        result = common.bench(*args[:1], "--addr", f"127.0.0.1:{self.port}", *args[1:])
        after = cpu_by_group(self.groups)
        return result, {name: after[name] - before[name] for name in before}


def measure(setups, opts, template):
    """Every figure of every setup, RUNS times, the setups back to back within a figure."""
    figures = {s.name: {} for s in setups}
    login_users = ["--user-pattern", "login%d", "--users", LOGIN_USERS]
    retr_users = ["--user-pattern", "bench%d", "--users", RETR_USERS]
    for run in range(opts.runs):
        log(f"run {run + 1} of {opts.runs} (load average {os.getloadavg()[0]:.1f})")
        for setup in setups:
            r, cpu = setup.measured("logins", *login_users, "--concurrency", LOGIN_USERS,
                                    "--seconds", opts.logins_seconds)
            record(figures[setup.name], "logins", r["logins_per_s"], cpu, r["logins"], r)
        for clients, rounds in ((1, opts.rounds1), (8, opts.rounds8)):
            for setup in setups:
                r, cpu = setup.measured("retr", *retr_users, "--clients", clients, "--rounds",
                                        rounds, "--corpus", template)
                record(figures[setup.name], f"retr{clients}", r["mb_per_s"], cpu,
                       r["octets"] / 1e9, r)
    return figures


def record(figures, key, rate, cpu, units, result):
    """One measurement: the rate, and CPU seconds per unit (a login, a GB) per process group."""
    entry = figures.setdefault(key, {"rate": [], "cost": {}, "errors": 0})
    entry["rate"].append(rate)
    entry["errors"] += result.get("errors", 0)
    for group, seconds in cpu.items():
        entry["cost"].setdefault(group, []).append(seconds / units if units else None)
    entry["cost"].setdefault("all", []).append(sum(cpu.values()) / units if units else None)


def cost_text(costs, scale):
    parts = [f"{name} {median(values) * scale:.2f}" for name, values in costs.items()
             if name != "all"]
    return f"{median(costs['all']) * scale:.2f} ({' + '.join(parts)})"


def table(figures):
    rows = [("setup", "logins/s", "CPU ms per login", "RETR MB/s 1 client", "CPU s per GB",
             "RETR MB/s 8 clients", "CPU s per GB")]
    for name, f in figures.items():
        rows.append((name, f"{median(f['logins']['rate']):,.0f}",
                     cost_text(f["logins"]["cost"], 1000),
                     f"{median(f['retr1']['rate']):,.0f}", cost_text(f["retr1"]["cost"], 1),
                     f"{median(f['retr8']['rate']):,.0f}", cost_text(f["retr8"]["cost"], 1)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def load_corpus(work, postgres, pop3host_pg):
    """Maildirs and passwd-file for the maildir plugin, and the same messages in PostgreSQL."""
    users = os.path.join(work, "users")
    owner = ["--uid", NOBODY, "--gid", NOBODY, "--home-root", os.path.join(work, "home"),
             "--write-users", users, "--maildir-name", "Maildir"]
    templates = {"login": os.path.join(work, "template-login"),
                 "bench": os.path.join(work, "template-bench")}
    common.corpus("--template", templates["login"], "--messages", 10, "--size", 2000,
                  "--user-pattern", "login%d", "--users", LOGIN_USERS, *owner)
    common.corpus("--template", templates["bench"], "--messages", 100, "--size", 230000,
                  "--sizes-in-names", "--user-pattern", "bench%d", "--users", RETR_USERS, *owner)
    postgres.sql(open(os.path.join(common.ROOT, "plugins/postgres/schema.sql")).read())
    groups = (("login", LOGIN_USERS), ("bench", RETR_USERS))
    postgres.sql("INSERT INTO users (name, password) VALUES " + ", ".join(
        f"('{prefix}{i}', '{{PLAIN}}password')" for prefix, count in groups
        for i in range(1, count + 1)))
    for prefix, count in groups:
        for i in range(1, count + 1):
            subprocess.run([pop3host_pg, "--url", postgres.url, "import-maildir",
                            f"{prefix}{i}", templates[prefix]],
                           check=True, stdout=subprocess.DEVNULL, timeout=300)
    postgres.sql("VACUUM ANALYZE")
    os.sync()
    return users, templates["bench"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--logins-seconds", type=float, default=5)
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--no-build", action="store_true")
    opts = ap.parse_args()
    opts.rounds1, opts.rounds8 = 5, 2
    if os.geteuid() != 0:
        sys.exit("run as root: PostgreSQL runs as nobody, and the files belong to nobody")
    release = os.path.join(common.ROOT, "target", "release")
    if not opts.no_build:
        log("cargo build --release -p pop3host -p maildir -p postgres-backend -p pop3bench")
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "pop3host", "-p",
                        "maildir", "-p", "postgres-backend", "-p", "pop3bench"],
                       cwd=common.ROOT, check=True)
    work = common.WORK = tempfile.mkdtemp(prefix="pop3bench-cluster-")
    os.chmod(work, 0o755)  # PostgreSQL runs as nobody
    # Copies, so that a rebuild in the work tree cannot swap binaries in the middle of a run.
    bin_dir = os.path.join(work, "bin")
    os.mkdir(bin_dir)
    copy = {name: shutil.copy2(os.path.join(release, name), bin_dir) for name in
            ("pop3bench", "pop3host", "pop3host-pg", "libmaildir.so", "libpostgres.so")}
    common.BENCH, common.POP3HOST = copy["pop3bench"], copy["pop3host"]
    postgres, running = Postgres(work), []
    try:
        postgres.start()
        log(f"PostgreSQL on 127.0.0.1:{postgres.port}; corpus in {work}")
        users, template = load_corpus(work, postgres, copy["pop3host-pg"])
        log("corpus loaded")
        maildir = Pop3host("maildir", copy["libmaildir.so"],
                           {"passwd_file": users, "maildir": "%h/Maildir"})
        pg_config = {"url": postgres.url}
        instances = [Pop3host(f"pg{i}", copy["libpostgres.so"], pg_config) for i in (1, 2)]
        haproxies = [Haproxy("haproxy-1", instances[:1]), Haproxy("haproxy-2", instances)]
        for server in [maildir, *instances, *haproxies]:
            server.start()
            running.append(server)
        db = [postgres]
        setups = [
            Setup("maildir", maildir.port, {"pop3host": [maildir]}),
            Setup("postgres", instances[0].port, {"pop3host": instances[:1], "postgres": db}),
            Setup("haproxy-1", haproxies[0].port,
                  {"pop3host": instances[:1], "postgres": db, "haproxy": haproxies[:1]}),
            Setup("haproxy-2", haproxies[1].port,
                  {"pop3host": instances, "postgres": db, "haproxy": haproxies[1:]}),
        ]
        figures = measure(setups, opts, template)
        print()
        print(f"pop3host maildir vs postgres plugin, direct and behind HAProxy, on 127.0.0.1, "
              f"{os.cpu_count()} CPUs shared by client and servers, medians of {opts.runs} runs")
        print(f"logins: {LOGIN_USERS} clients at once; RETR: 100 messages of ~230 kB per "
              f"client ({opts.rounds1} rounds with 1 client, {opts.rounds8} with 8); CPU "
              "cost: all of it, then per process group")
        print(table(figures))
        errors = sum(f["errors"] for setup in figures.values() for f in setup.values())
        print(f"{errors} errors; {time.monotonic() - common.STARTED:.0f} s in all")
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump(figures, f, indent=1)
    finally:
        for server in reversed(running):
            try:
                server.stop()
            except Exception:
                pass
            server.cpu.remove()
        postgres.stop()
        postgres.cpu.remove()
        if opts.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
