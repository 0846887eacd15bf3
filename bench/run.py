#!/usr/bin/env python3
"""pop3host against Dovecot on the same maildirs, with pop3bench.

Sets up a corpus in a temporary directory, starts target/release/pop3host with the maildir
plugin on a free loopback port and, when it is installed (`--install-dovecot` installs
dovecot-pop3d), Dovecot 2.3 on another, runs every benchmark RUNS times against each, and
prints a side-by-side table of medians with the project's targets (TARGETS below). Without
Dovecot: pop3host alone. Next to the rates it reports each server's own CPU time per login and
per GB sent (on 2 cores shared by client and servers, a rate mostly measures the client): each
server runs in a cgroup v2 of its own (bench/server_cpu.py), whose `usage_usec` counts all its
processes, Dovecot's short-lived login and mail processes included. Logins are measured in
plaintext, after STLS and on the implicit-TLS port, each with a full handshake every time and
with clients that keep their TLS sessions (resumed handshakes); idle sessions in plaintext and
over implicit TLS. Both servers use one self-signed certificate for localhost, ECDSA P-256 (or
RSA-2048 with --certificate rsa), made with openssl(1). The machine is shared and its load changes by the minute, so the
figures compared as ratios (logins, RETR, LIST latency) are measured for the two servers back
to back, and a ratio is the median of those pairs' ratios.

Corpus (hard links to shared templates, so it costs little disk and time):
  bench1..bench64   100 messages of about 230 kB (23 MB) each, `,S=,W=` sizes in the names
  big1              100,000 messages of about 2 kB, no sizes in the names
  idle1..idle10000  no maildir (an empty mailbox), for the idle-session benchmark
  full1..full9000   10 messages of about 2 kB each: idle pop3host sessions on real maildirs
  soak1..soak200    30 tricky messages each, for the soak (pop3host only)
One passwd-file (`user:{PLAIN}password:65534:65534::home::`) for both servers. Each server gets
its own copy of every maildir (Dovecot `~/Maildir`, pop3host `~/pop3host-Maildir`), so neither
sees the other's index, uidlist or size cache. Files belong to nobody (uid 65534): Dovecot
does not run mail processes as root.

pop3host settings: the defaults except --max-connections 20000 (default 1000) for the idle
sessions, and, spelled out though they are the defaults, --trusted-networks 127.0.0.0/8
(no per-address limits and failed-login delays for the loopback client; needed for 64
concurrent logins and 10,000 sessions from one address) and --max-sessions-per-user 10.
Dovecot settings: the defaults except what it needs to run here (a temporary base_dir and
state_dir, pop3 and pop3s listeners on free loopback ports, passwd-file passdb/userdb,
mail_location, ssl_cert and ssl_key, disable_plaintext_auth = no) and, for the idle benchmark only to fit at all,
process and client limits above its default of 100 processes per service. Logins are also
measured against Dovecot's high-performance login mode (pop3-login service_count = 0 and
process_min_avail = one per CPU): long-lived login processes.

Run as root (Dovecot needs it). RLIMIT_NOFILE is raised to its hard limit for both servers
and the client: 10,000 idle sessions need 10,000 descriptors in pop3host, 50,000 with
maildirs (each session also holds its lock file and handles on the maildir, cur/ and new/:
the maildir plugin's DESCRIPTORS_PER_SESSION of 4), so the run on 10-message maildirs holds
3,940 sessions where the hard limit is 20,000 (a container without CAP_SYS_RESOURCE cannot
raise it). Everything listens on 127.0.0.1 only and is removed at the end (--keep keeps it).

Hashed passwords: every run also measures logins of the same users with SHA512-CRYPT
passwords (openssl's default 5000 rounds), on pop3host with `"auth_cache"` on and on pop3host
without it, right after the {PLAIN} logins, and reports both rates as ratios to {PLAIN}
(target: with the cache, at least 0.8). --logins-only measures only these logins.

    python3 bench/run.py [--runs 3] [--install-dovecot] [--no-dovecot] [--quick]
                         [--logins-only] [--certificate ecdsa|rsa] [--json results.json]
                         [--keep] [--no-build]
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from server_cpu import cpu_group

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
BENCH = os.path.join(RELEASE, "pop3bench")
POP3HOST = os.path.join(RELEASE, "pop3host")
PLUGIN = os.path.join(RELEASE, "libmaildir.so")
PASSWORD = "password"
NOBODY = 65534
STARTED = time.monotonic()


def log(message):
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def terminate(proc, grace):
    """Stops a server that still runs: SIGTERM, and SIGKILL when it has not exited after
    `grace` seconds."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_greeting(port, deadline=20.0):
    """Waits until a POP3 server on 127.0.0.1:port greets."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"+OK"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no POP3 greeting on 127.0.0.1:{port}")


def bench(*args, timeout=300):
    """Runs pop3bench with --json and returns its figures (exit 1 = errors met, still figures)."""
    out = os.path.join(WORK, f"result-{time.monotonic_ns()}.json")
    cmd = [BENCH, *map(str, args), "--json", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode not in (0, 1) or not os.path.exists(out):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
    with open(out) as f:
        result = json.load(f)
    os.unlink(out)
    if result.get("errors"):
        log(f"  {args[0]}: {result['errors']} errors, e.g. {result['error_samples'][:3]}")
    return result


def make_certificate(kind):
    """A self-signed certificate for localhost and its key (PEM files in WORK): ECDSA P-256
    (what the README recommends) or RSA-2048 (the common default, for comparison)."""
    cert, key = os.path.join(WORK, "cert.pem"), os.path.join(WORK, "key.pem")
    new_key = (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] if kind == "ecdsa"
               else ["-newkey", "rsa:2048"])
    subprocess.run(["openssl", "req", "-x509", *new_key, "-nodes", "-subj", "/CN=localhost",
                    "-days", "2", "-keyout", key, "-out", cert], check=True,
                   capture_output=True)
    return cert, key


def corpus(*args):
    subprocess.run([BENCH, "corpus", *map(str, args)], check=True, stdout=subprocess.DEVNULL,
                   timeout=600)


# ---------------------------------------------------------------------------------------------
# Servers


class Server:
    """What both servers share: a plain and an implicit-TLS port, and a cgroup of their own
    for their CPU time."""

    def __init__(self):
        self.proc = None
        self.port = free_port()
        self.tls_port = free_port()
        self.cpu = cpu_group(self.name, log)

    def addr(self, tls_options=()):
        """--addr for pop3bench: the TLS port for implicit TLS, else the plain one."""
        port = self.tls_port if "implicit" in tls_options else self.port
        return ["--addr", f"127.0.0.1:{port}"]

    def popen(self, command, **kwargs):
        """Starts the server in its cgroup."""
        enter = self.cpu.enter if self.cpu else None
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=enter, **kwargs)

    def cpu_seconds(self):
        """CPU seconds the server (all its processes, dead ones too) has used; None unknown."""
        return self.cpu.seconds() if self.cpu else None

    def remove(self):
        if self.cpu:
            self.cpu.remove()


class Pop3host(Server):
    def __init__(self, users, certificate, name="pop3host", extra_config=None):
        self.name = name  # before Server's: it names the cgroup
        super().__init__()
        self.users = users
        self.certificate = certificate
        self.extra_config = extra_config or {}

    def start(self):
        config = {"passwd_file": self.users, "maildir": "%h/pop3host-Maildir",
                  **self.extra_config}
        cert, key = self.certificate
        self.log = open(os.path.join(WORK, f"{self.name}.log"), "ab")
        self.proc = self.popen(
            [POP3HOST, "--plugin", PLUGIN, "--plugin-config", json.dumps(config),
             "--listen", f"127.0.0.1:{self.port}", "--max-connections", "20000",
             "--trusted-networks", "127.0.0.0/8", "--max-sessions-per-user", "10",
             "--tls-cert", cert, "--tls-key", key, "--tls-listen", f"127.0.0.1:{self.tls_port}"],
            stdout=self.log, stderr=self.log)
        wait_for_greeting(self.port)

    def memory_args(self):
        return ["--server-pid", self.proc.pid]

    def stop(self):
        terminate(self.proc, 15)
        self.proc = None
        self.log.close()


class Dovecot(Server):
    name = "dovecot"

    def __init__(self, users, idle_sessions, certificate):
        super().__init__()
        self.users = users
        self.certificate = certificate
        self.idle_sessions = idle_sessions
        # Dovecot's high-performance mode: login processes that serve many clients each
        # instead of one process per connection (the mail process per session stays).
        self.long_lived_logins = False
        self.dir = os.path.join(WORK, "dovecot")

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, "dovecot.conf")
        limit = self.idle_sessions + 200
        login_mode = (f"  service_count = 0\n  process_min_avail = {os.cpu_count()}\n"
                      if self.long_lived_logins else "")
        cert, key = self.certificate
        with open(conf, "w") as f:
            f.write(f"""# Dovecot 2.3 defaults except what it needs to run here.
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.users}
}}
userdb {{
  driver = passwd-file
  args = {self.users}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
{login_mode}}}
# Only so that {self.idle_sessions} idle sessions fit (a process per session): the default
# is 100 processes per service and 1000 clients per process.
default_process_limit = {limit}
default_client_limit = {limit + 1000}
""")
        self.proc = self.popen(["dovecot", "-F", "-c", conf], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        try:
            wait_for_greeting(self.port)
        except RuntimeError:
            self.proc.kill()
            raise RuntimeError("dovecot did not start: " + self.proc.stderr.read().decode())

    def memory_args(self):
        return ["--server-pid", self.proc.pid, "--with-children"]

    def stop(self):
        terminate(self.proc, 20)
        self.proc = None


# ---------------------------------------------------------------------------------------------
# Benchmarks: each returns {figure: [value per run]} plus raw results.


def recorder(figures, raw):
    def record(key, value, result):
        figures.setdefault(key, []).append(value)
        raw.setdefault(key, []).append(result)
    return record


# How the logins benchmark logs in: (figure name, pop3bench options). "resumed": each client
# keeps its TLS sessions, as a mail client that polls does; "full": a full handshake each time.
LOGIN_MODES = [
    ("plain", []),
    ("stls_full", ["--tls", "stls", "--no-resumption"]),
    ("stls_resumed", ["--tls", "stls"]),
    ("implicit_full", ["--tls", "implicit", "--no-resumption"]),
    ("implicit_resumed", ["--tls", "implicit"]),
]


def measured(server, *args, **kwargs):
    """Runs pop3bench; returns its figures and the server's CPU seconds meanwhile (None when
    unknown)."""
    before = server.cpu_seconds()
    result = bench(*args, **kwargs)
    after = server.cpu_seconds()
    return result, (None if before is None or after is None else after - before)


def per(cpu, units, scale):
    """CPU seconds per unit, times `scale` (1000: ms per login); None when unknown."""
    return cpu * scale / units if cpu is not None and units else None


def throughput(server, opts, corpus_dirs, record):
    """Logins and RETR once, with the server's CPU time per login and per GB: figures
    compared as ratios, so measured for both servers back to back (see run_benchmarks)."""
    bench_users = ["--user-pattern", "bench%d", "--users", opts.users]
    cpu_ms = {}
    for mode, tls in LOGIN_MODES:
        r, cpu = measured(server, "logins", *server.addr(tls), *bench_users, *tls,
                          "--concurrency", opts.users, "--seconds", opts.logins_seconds)
        suffix = "" if mode == "plain" else f"_{mode}"
        record(f"logins{suffix}_per_s", r["logins_per_s"], r)
        cpu_ms[mode] = per(cpu, r["logins"], 1000)
        record(f"cpu_ms_login_{mode}", cpu_ms[mode], None)
        if tls:
            record(f"resumed_pct_{mode}", 100 * r["tls_resumed"] / max(r["logins"], 1), None)
    if cpu_ms["plain"] and cpu_ms["implicit_resumed"]:
        record("cpu_implicit_resumed_over_plain",
               cpu_ms["implicit_resumed"] / cpu_ms["plain"], None)
    for clients, rounds in ((1, opts.rounds1), (8, opts.rounds8)):
        r, cpu = measured(server, "retr", *server.addr(), *bench_users, "--clients", clients,
                          "--rounds", rounds, "--corpus", corpus_dirs["bench"])
        record(f"retr{clients}_mb_per_s", r["mb_per_s"], r)
        record(f"cpu_s_per_gb_retr{clients}", per(cpu, r["octets"], 1e9), None)


def hashed_logins(plain, cached, uncached, opts, record):
    """Logins of the same users with SHA512-CRYPT passwords, through the authentication
    cache and without it, right after their {PLAIN} logins: the cache's target is a ratio to
    the {PLAIN} rate, so the three are measured back to back under the same load."""
    args = ["--user-pattern", "bench%d", "--users", opts.users, "--concurrency", opts.users,
            "--seconds", opts.logins_seconds]
    rates = {}
    for key, server in (("plain", plain), ("sha512_cached", cached), ("sha512", uncached)):
        r = bench("logins", *server.addr(), *args)
        rates[key] = r["logins_per_s"]
        record(f"{key}_logins_per_s", r["logins_per_s"], r)
    record("sha512_cached_vs_plain", rates["sha512_cached"] / rates["plain"], None)
    record("sha512_vs_plain", rates["sha512"] / rates["plain"], None)


def sha512_users(plain_users, path):
    """The passwd-file `plain_users` with every password stored as SHA512-CRYPT (openssl's
    default 5000 rounds, a random salt each)."""
    with open(plain_users) as f, open(path, "w") as out:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if len(fields) > 1 and fields[1] == "{PLAIN}" + PASSWORD:
                hashed = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True,
                                        capture_output=True, text=True).stdout.strip()
                fields[1] = "{SHA512-CRYPT}" + hashed
            out.write(":".join(fields) + "\n")


def one_run(server, run, opts, record):
    """The figures of `server` alone (big mailbox, idle sessions; for Dovecot, logins with
    long-lived login processes), which need restarts or take long."""
    load = os.getloadavg()[0]
    log(f"{server.name}: run {run + 1} of {opts.runs} (load average {load:.1f})")
    record("load_average", load, load)
    r = bench("login-list", *server.addr(), "--user", "big1", "--repetitions", 5, timeout=600)
    if run == 0:  # later runs find the caches the first one built
        record("big_first_ms", r.get("first_ms"), r)
    record("big_second_ms", r.get("second_ms"), r)
    record("big_median_ms", r.get("median_after_first_ms"), r)
    if server.name == "dovecot":
        server.stop()
        server.long_lived_logins = True
        server.start()
        r = bench("logins", *server.addr(), "--user-pattern", "bench%d", "--users", opts.users,
                  "--concurrency", opts.users, "--seconds", opts.logins_seconds)
        record("logins_long_lived_per_s", r["logins_per_s"], r)
        server.long_lived_logins = False
    # Idle sessions on a freshly started server, so that what an earlier benchmark freed
    # cannot hide what the sessions take.
    sessions = opts.idle if server.name == "pop3host" else opts.dovecot_idle
    implicit = ["--tls", "implicit"]
    idle_runs = [("idle", "idle%d", sessions, []), ("idle_tls", "idle%d", sessions, implicit)]
    if server.name == "pop3host" and opts.idle_full > 0:
        idle_runs.append(("idle_full", "full%d", opts.idle_full, []))
    for key, pattern, count, tls in idle_runs:
        server.stop()
        server.start()
        r = bench("idle", *server.addr(tls), *tls, "--user-pattern", pattern, "--users", count,
                  "--sessions", count, *server.memory_args(), timeout=900)
        record(f"{key}_sessions", r["sessions"], r)
        record(f"{key}_kb_per_session", r["pss_kb_per_session"], r)
    server.stop()
    server.start()


def run_benchmarks(servers, hashed, opts, corpus_dirs):
    """Each run: every server alone, then the compared figures for one server right after
    the other, so that each pair of measurements meets the same load on this shared machine
    (the table's ratios are medians of these pairs). `hashed`: pop3host on SHA512-CRYPT
    users with and without the authentication cache. --logins-only: the logins alone."""
    figures = {s.name: {} for s in servers}
    raw = {s.name: {} for s in servers}
    record = {s.name: recorder(figures[s.name], raw[s.name]) for s in servers}
    for run in range(opts.runs):
        run_started = time.monotonic()
        if opts.logins_only:
            load = os.getloadavg()[0]
            log(f"run {run + 1} of {opts.runs}: logins (load average {load:.1f})")
            record["pop3host"]("load_average", load, load)
        hashed_logins(servers[0], *hashed, opts, record["pop3host"])
        if opts.logins_only:
            continue
        for server in servers:
            one_run(server, run, opts, record[server.name])
        for server in servers:
            throughput(server, opts, corpus_dirs, record[server.name])
        # Round trips are short and the most sensitive to what else the machine does: several
        # short series, alternating between the servers.
        for _ in range(opts.latency_series):
            for server in servers:
                r = bench("latency", *server.addr(), "--user", "bench1", "--command", "LIST",
                          "--samples", opts.samples)
                record[server.name]("list_p50_ms", r["round_trip_p50_ms"], r)
                record[server.name]("list_p99_ms", r["round_trip_p99_ms"], None)
        took = time.monotonic() - run_started
        if run + 1 < opts.runs and time.monotonic() - STARTED + took > opts.budget:
            log(f"time budget: stopping after {run + 1} runs")
            break
    return figures, raw


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------
# The table

TARGETS = [
    # key (or pop3host's key and Dovecot's), label, unit, better, target text, goal:
    # ("ratio", x): pop3host x times better than Dovecot or more; ("at most", v) and
    # ("below", v): pop3host's median against a fixed bound; None: shown only.
    ("logins_per_s", "logins/s, 64 concurrent", "/s", "higher", ">= 20x Dovecot", ("ratio", 20)),
    ("logins_stls_full_per_s", "logins/s, STLS full handshake", "/s", "higher", "", None),
    ("logins_stls_resumed_per_s", "logins/s, STLS resumed", "/s", "higher", "", None),
    ("logins_implicit_full_per_s", "logins/s, implicit TLS full", "/s", "higher", "", None),
    ("logins_implicit_resumed_per_s", "logins/s, implicit TLS resumed", "/s", "higher", "",
     None),
    ("cpu_ms_login_plain", "server CPU per login, plaintext", "ms", "lower", "", None),
    ("cpu_ms_login_stls_full", "server CPU per login, STLS full", "ms", "lower", "", None),
    ("cpu_ms_login_stls_resumed", "server CPU per login, STLS resumed", "ms", "lower", "", None),
    ("cpu_ms_login_implicit_full", "server CPU per login, implicit TLS full", "ms", "lower", "",
     None),
    ("cpu_ms_login_implicit_resumed", "server CPU per login, implicit TLS resumed", "ms",
     "lower", "", None),
    ("cpu_implicit_resumed_over_plain", "CPU: implicit TLS resumed / plaintext login", "",
     "", "<= 2", ("at most", 2)),
    ("resumed_pct_implicit_resumed", "TLS handshakes resumed (implicit, resuming clients)",
     "%", "", "", None),
    ("resumed_pct_stls_resumed", "TLS handshakes resumed (STLS, resuming clients)", "%", "", "",
     None),
    (("logins_per_s", "logins_long_lived_per_s"), "logins/s vs long-lived login processes",
     "/s", "higher", ">= 10x Dovecot", ("ratio", 10)),
    ("retr1_mb_per_s", "RETR MB/s, 1 client", "MB/s", "higher", ">= 3x Dovecot", ("ratio", 3)),
    ("retr8_mb_per_s", "RETR MB/s, 8 clients", "MB/s", "higher", ">= 3x Dovecot", ("ratio", 3)),
    ("cpu_s_per_gb_retr1", "server CPU per GB sent, RETR 1 client", "s", "lower", "", None),
    ("cpu_s_per_gb_retr8", "server CPU per GB sent, RETR 8 clients", "s", "lower", "", None),
    ("idle_kb_per_session", "idle session Pss", "kB", "lower", "<= 32 kB (10,000 sessions)",
     ("at most", 32)),
    ("list_p99_ms", "LIST p99 (100 msgs)", "ms", "lower", "<= Dovecot", ("ratio", 1)),
    ("list_p50_ms", "LIST p50 (100 msgs)", "ms", "lower", "", None),
    ("big_second_ms", "big mailbox: 2nd login+STAT+LIST", "ms", "lower", "< 150 ms (100,000 msgs)",
     ("below", 150)),
    ("big_median_ms", "big mailbox: later logins, median", "ms", "lower", "", None),
    ("big_first_ms", "big mailbox: 1st login (cold)", "ms", "lower", "", None),
    ("sha512_cached_vs_plain", "SHA512-CRYPT logins with auth_cache / {PLAIN} logins", "",
     "", ">= 0.8", ("at least", 0.8)),
    ("sha512_vs_plain", "SHA512-CRYPT logins without cache / {PLAIN} logins", "", "", "",
     None),
    ("sha512_cached_logins_per_s", "logins/s, SHA512-CRYPT, auth_cache on", "/s", "", "", None),
    ("sha512_logins_per_s", "logins/s, SHA512-CRYPT, no cache", "/s", "", "", None),
    ("plain_logins_per_s", "logins/s, {PLAIN}, same run as these", "/s", "", "", None),
    ("idle_sessions", "idle sessions held", "", "", "", None),
    ("idle_tls_kb_per_session", "idle TLS session Pss (implicit)", "kB", "lower", "", None),
    ("idle_full_kb_per_session", "idle session Pss, 10-msg maildir", "kB", "lower", "", None),
    ("idle_full_sessions", "idle sessions held, 10-msg maildir", "", "", "", None),
]


def ratio(ps, ds, better):
    """How many times better pop3host is: the median of the ratios of measurements taken
    back to back (the n-th of each server's list), which share the machine's load of the
    moment; the ratio of the medians when the lists do not pair up."""
    def one(p, d):
        if not p or not d:
            return None
        return p / d if better == "higher" else d / p
    if not better:
        return None
    if ps and len(ps) == len(ds):
        return median([one(p, d) for p, d in zip(ps, ds)])
    return one(median(ps), median(ds))


def met(goal, p, r):
    if goal is None or p is None:
        return ""
    kind, bound = goal
    if kind == "ratio":
        return "n/a" if r is None else ("yes" if r >= bound else "NO")
    passed = {"at most": p <= bound, "below": p < bound, "at least": p >= bound}[kind]
    return "yes" if passed else "NO"


def fmt(value):
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def table(results, with_dovecot):
    rows = []
    head = ["figure (median)", "pop3host"] + (
        ["Dovecot", "ratio (paired)"] if with_dovecot else []) + ["target", "met"]
    for key, label, unit, better, target, goal in TARGETS:
        p_key, d_key = key if isinstance(key, tuple) else (key, key)
        ps = results["pop3host"].get(p_key, [])
        ds = results["dovecot"].get(d_key, []) if with_dovecot else []
        p, d = median(ps), median(ds)
        if p is None:
            continue  # not measured in this run (--logins-only)
        r = ratio(ps, ds, better)
        row = [f"{label} [{unit}]" if unit else label, fmt(p)]
        if with_dovecot:
            row += [fmt(d), f"{r:.1f}x" if r else "-"]
        rows.append(row + [target, met(goal, p, r)])
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def main():
    global WORK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--install-dovecot", action="store_true",
                    help="apt-get install dovecot-pop3d when dovecot is missing")
    ap.add_argument("--no-dovecot", action="store_true")
    ap.add_argument("--quick", action="store_true", help="a smaller, shorter run (development)")
    ap.add_argument("--users", type=int, default=64)
    ap.add_argument("--idle", type=int, default=10000, help="idle sessions held on pop3host")
    ap.add_argument("--idle-full", type=int, default=9000,
                    help="idle pop3host sessions on 10-message maildirs (5 descriptors each)")
    ap.add_argument("--dovecot-idle", type=int, default=1000,
                    help="idle sessions held on Dovecot (a process each, ~125 logins/s)")
    ap.add_argument("--big", type=int, default=100000, help="messages of the big mailbox")
    ap.add_argument("--logins-seconds", type=float, default=5)
    ap.add_argument("--soak-seconds", type=float, default=10, help="0: no soak")
    ap.add_argument("--budget", type=float, default=540, help="seconds for the benchmarks")
    ap.add_argument("--certificate", choices=["ecdsa", "rsa"], default="ecdsa",
                    help="the servers' key: ECDSA P-256 or RSA-2048")
    ap.add_argument("--json", help="write every figure and raw result here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--logins-only", action="store_true",
                    help="only the logins of {PLAIN} and SHA512-CRYPT users (auth_cache on and "
                         "off), on small maildirs, without Dovecot")
    opts = ap.parse_args()
    opts.rounds1, opts.rounds8, opts.samples, opts.latency_series = 5, 2, 2000, 5
    if opts.quick:
        opts.runs, opts.users, opts.idle, opts.dovecot_idle, opts.big = 1, 16, 500, 100, 5000
        opts.idle_full = 300
        opts.logins_seconds, opts.soak_seconds, opts.rounds1, opts.samples = 2, 3, 2, 500
    if os.geteuid() != 0:
        sys.exit("run as root: Dovecot and the file ownership need it")

    if not opts.no_build:
        log("cargo build --release -p pop3host -p maildir -p static-messages -p pop3bench")
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "pop3host", "-p",
                        "maildir", "-p", "static-messages", "-p", "pop3bench"],
                       cwd=ROOT, check=True)
    with_dovecot = not opts.no_dovecot and not opts.logins_only
    if with_dovecot and not shutil.which("dovecot"):
        if opts.install_dovecot:
            log("apt-get install dovecot-pop3d")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", "dovecot-pop3d"], check=True,
                           env=env)
            # The package may start the system's Dovecot; this run uses its own instance.
            subprocess.run(["service", "dovecot", "stop"], capture_output=True)
        else:
            log("dovecot is not installed (--install-dovecot installs it): pop3host alone")
            with_dovecot = False

    # As many descriptors as allowed, for the servers and the client (containers without
    # CAP_SYS_RESOURCE cannot raise the hard limit: 20000 here).
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if nofile == resource.RLIM_INFINITY or nofile > 1 << 20:
        nofile = 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    if opts.idle + 300 > nofile:
        opts.idle = nofile - 300
        log(f"RLIMIT_NOFILE is {nofile}: {opts.idle} idle sessions")
    # With a maildir a pop3host session holds its socket, its lock file and handles on the
    # maildir, cur/ and new/ (the maildir plugin's DESCRIPTORS_PER_SESSION): 5 descriptors.
    opts.idle_full = min(opts.idle_full, (nofile - 300) // 5)
    WORK = tempfile.mkdtemp(prefix="pop3bench-")
    os.chmod(WORK, 0o755)  # Dovecot's unprivileged processes walk through it
    # Copies, so that a rebuild in the work tree cannot swap binaries in the middle of a run.
    global BENCH, POP3HOST, PLUGIN
    bin_dir = os.path.join(WORK, "bin")
    os.mkdir(bin_dir)
    BENCH, POP3HOST, PLUGIN = (shutil.copy2(path, bin_dir) for path in (BENCH, POP3HOST, PLUGIN))
    servers, hashed = [], []
    try:
        log(f"corpus in {WORK}")
        users = os.path.join(WORK, "users")
        home = os.path.join(WORK, "home")
        owner = ["--uid", NOBODY, "--gid", NOBODY, "--home-root", home, "--write-users", users,
                 "--maildir-name", "Maildir", "--maildir-name", "pop3host-Maildir"]
        dirs = {name: os.path.join(WORK, f"template-{name}") for name in
                ("bench", "big", "idle", "soak")}
        corpus("--template", dirs["bench"], "--messages", 10 if opts.logins_only else 100,
               "--size", 230000, "--sizes-in-names", "--user-pattern", "bench%d", "--users",
               opts.users, *owner)
        sha512 = os.path.join(WORK, "users-sha512")
        sha512_users(users, sha512)

        if opts.logins_only:
            opts.big = opts.idle = opts.idle_full = opts.soak_seconds = 0
        else:
            corpus("--template", dirs["big"], "--messages", opts.big, "--size", 2000,
                   "--user-pattern", "big%d", "--users", 1, *owner)
            # Idle users: no maildir (an empty mailbox; Dovecot creates it at login) ...
            corpus("--template", dirs["idle"], "--messages", 10, "--size", 2000,
                   "--no-maildir", "--user-pattern", "idle%d", "--users",
                   max(opts.idle, opts.dovecot_idle), *owner)
            # ... and users with 10 messages, for a pop3host run with real mailboxes.
            if opts.idle_full > 0:
                corpus("--template", dirs["idle"], "--user-pattern", "full%d", "--users",
                       opts.idle_full, *owner)
            if opts.soak_seconds > 0:
                corpus("--template", dirs["soak"], "--messages", 30, "--size", 6000, "--tricky",
                       "--user-pattern", "soak%d", "--users", 200, *owner)
        # Writing back the corpus's metadata would otherwise go on during the first runs.
        os.sync()
        log("corpus ready")

        certificate = make_certificate(opts.certificate)
        hashed = [Pop3host(sha512, certificate, "pop3host-sha512-cached",
                           {"auth_cache": {"size": 10000, "ttl_seconds": 600}}),
                  Pop3host(sha512, certificate, "pop3host-sha512")]
        pop3host = Pop3host(users, certificate)
        servers.append(pop3host)
        pop3host.start()
        if with_dovecot:
            dovecot = Dovecot(users, opts.dovecot_idle, certificate)
            servers.append(dovecot)
            dovecot.start()
            version = subprocess.run(["dovecot", "--version"], capture_output=True,
                                     text=True).stdout.strip()
            log(f"dovecot {version}")
        for server in hashed:
            server.start()
        servers_started = servers + hashed
        results, raw = run_benchmarks(servers, hashed, opts, dirs)
        results.setdefault("dovecot", {})
        if opts.soak_seconds > 0:
            # A fresh server, so that its memory before and after is the soak's alone.
            pop3host.stop()
            pop3host.start()
            log(f"pop3host: soak, 200 sessions, {opts.soak_seconds:g} s")
            raw["soak"] = bench("soak", "--addr", f"127.0.0.1:{pop3host.port}",
                                "--user-pattern", "soak%d", "--users", 200, "--sessions", 200,
                                "--seconds", opts.soak_seconds, "--warmup-seconds", 2,
                                "--corpus", dirs["soak"], *pop3host.memory_args())
        for server in servers_started:
            server.stop()

        print()
        if opts.logins_only:
            print(f"pop3host logins on 127.0.0.1, {os.cpu_count()} CPUs, {opts.users} "
                  f"concurrent clients, medians of {opts.runs} runs")
        else:
            print(f"pop3host vs Dovecot on 127.0.0.1, {os.cpu_count()} CPUs, medians of up to "
                  f"{opts.runs} runs (idle: {opts.idle} pop3host / {opts.dovecot_idle} "
                  f"Dovecot sessions; big mailbox: {opts.big} messages)")
        print(table(results, with_dovecot))
        for name in ("pop3host", "dovecot"):
            if name in raw:
                runs = [r for values in raw[name].values() for r in values
                        if isinstance(r, dict)]
                samples = [e for r in runs for e in r.get("error_samples", [])]
                print(f"{name}: {sum(r.get('errors', 0) for r in runs)} errors in "
                      f"{len(runs)} benchmark runs" + (f", e.g. {samples[0]}" if samples else ""))
        loads = {name: raw[name].get("load_average") for name in ("pop3host", "dovecot")
                 if name in raw}
        print("load average (1 min) at the start of each run: " + ", ".join(
            f"{name} {' '.join(f'{x:.1f}' for x in values)}" for name, values in loads.items()))
        if "soak" in raw:
            s = raw["soak"]
            print(f"\nsoak: {s['concurrent_sessions']} sessions at once for {s['seconds']:.0f} s: "
                  f"{s['sessions']} sessions, {s['commands']} commands, {s['errors']} errors, "
                  f"{s['messages_deleted']} messages deleted, final check of "
                  f"{s['final_users_checked']} mailboxes; pop3host Pss before "
                  f"{s.get('before_pss_kb')} kB, warm {s.get('warm_pss_kb')} kB, peak "
                  f"{s.get('peak_pss_kb')} kB, after {s.get('after_pss_kb')} kB")
        print(f"\n{time.monotonic() - STARTED:.0f} s in all")
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump({"figures": results, "raw": raw}, f, indent=1)
            print(f"figures and raw results: {opts.json}")
    finally:
        for server in servers + hashed:
            try:
                server.stop()
            except Exception:
                pass
            server.remove()
        if opts.keep:
            print(f"kept {WORK}")
        else:
            shutil.rmtree(WORK, ignore_errors=True)


WORK = None

if __name__ == "__main__":
    main()
