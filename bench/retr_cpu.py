#!/usr/bin/env python3
"""pop3host's own CPU per GB of RETR, for one build or several measured back to back.

A rate on a machine whose cores the client shares mostly measures the client; what a RETR
costs the server is its CPU time (user + system, all threads, from /proc/PID/stat) over a run
of `pop3bench retr`, divided by the octets the clients read off the wire. The corpus and the
server's settings are bench/run.py's (whose helpers this reuses): maildirs of 100 messages
of about 230 kB (LF line ends, sizes in the names), the maildir plugin, the defaults.

Each build is a directory holding pop3host and libmaildir.so (for example a copy of
target/release taken before a change). Every run measures each build once, in alternating
order, at 1 and at 8 clients, after one warm-up download; the machine is shared, so the
table gives medians, and for a second build the median of its per-run ratios to the first.

    python3 bench/retr_cpu.py [--build LABEL=DIR ...] [--runs 5] [--rounds1 10]
                              [--rounds8 3] [--json results.json] [--keep]

Without --build: target/release of this tree (build it first: cargo build --release -p
pop3host -p maildir -p pop3bench). pop3bench always comes from target/release. Run as root
(the corpus belongs to nobody, as in run.py).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: corpus, server and pop3bench helpers)

CLIENTS = (1, 8)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU of every thread of `pid` so far (fields 14 and 15 of its stat,
    counted after the command name, which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(build, opts, users, template):
    """One run of `build`: server CPU seconds per GB on the wire and MB/s, per client count."""
    run.POP3HOST = os.path.join(build, "pop3host")
    run.PLUGIN = os.path.join(build, "libmaildir.so")
    server = run.Pop3host(users)
    server.start()
    try:
        bench_users = ["--user-pattern", "bench%d", "--users", max(CLIENTS)]
        retr = ["retr", *server.addr(), *bench_users, "--corpus", template]
        run.bench(*retr, "--clients", max(CLIENTS), "--rounds", 1)  # page cache, size cache
        figures = {}
        for clients in CLIENTS:
            rounds = opts.rounds1 if clients == 1 else opts.rounds8
            before = cpu_seconds(server.proc.pid)
            r = run.bench(*retr, "--clients", clients, "--rounds", rounds)
            cpu = cpu_seconds(server.proc.pid) - before
            if r.get("errors"):
                raise RuntimeError(f"{build}: RETR errors: {r['error_samples'][:3]}")
            figures[clients] = {"cpu_s_per_gb": cpu / (r["wire_octets"] / 1e9),
                                "mb_per_s": r["mb_per_s"], "cpu_s": cpu,
                                "wire_octets": r["wire_octets"]}
            run.log(f"  {clients} client(s): {figures[clients]['cpu_s_per_gb']:.3f} s/GB, "
                    f"{r['mb_per_s']:.0f} MB/s")
        return figures
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", action="append", default=[], metavar="LABEL=DIR")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds1", type=int, default=20, help="downloads by the single client")
    ap.add_argument("--rounds8", type=int, default=5, help="downloads by each of 8 clients")
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the corpus belongs to nobody")
    builds = dict(b.split("=", 1) for b in opts.build) or {"pop3host": run.RELEASE}

    run.WORK = tempfile.mkdtemp(prefix="pop3bench-retr-")
    os.chmod(run.WORK, 0o755)
    results = {label: [] for label in builds}
    try:
        users = os.path.join(run.WORK, "users")
        template = os.path.join(run.WORK, "template-bench")
        run.corpus("--template", template, "--messages", 100, "--size", 230000,
                   "--sizes-in-names", "--user-pattern", "bench%d", "--users", max(CLIENTS),
                   "--uid", run.NOBODY, "--gid", run.NOBODY,
                   "--home-root", os.path.join(run.WORK, "home"), "--write-users", users,
                   "--maildir-name", "pop3host-Maildir")
        os.sync()
        for n in range(opts.runs):
            order = list(builds.items())
            for label, build in order if n % 2 == 0 else reversed(order):
                run.log(f"run {n + 1}/{opts.runs}: {label}")
                results[label].append(measure(build, opts, users, template))
    finally:
        if opts.keep:
            run.log(f"kept {run.WORK}")
        else:
            shutil.rmtree(run.WORK, ignore_errors=True)

    first = next(iter(builds))
    print(f"server CPU per GB of RETR (maildir, ~230 kB messages), medians of {opts.runs} runs")
    print(f"{'build':<12} {'clients':>7} {'CPU s/GB':>9} {'MB/s':>7} {'ratio to ' + first:>18}")
    for label, runs in results.items():
        for clients in CLIENTS:
            per_gb = [r[clients]["cpu_s_per_gb"] for r in runs]
            rate = [r[clients]["mb_per_s"] for r in runs]
            ratios = [r[clients]["cpu_s_per_gb"] / b[clients]["cpu_s_per_gb"]
                      for r, b in zip(runs, results[first])]
            print(f"{label:<12} {clients:>7} {statistics.median(per_gb):>9.3f} "
                  f"{statistics.median(rate):>7.0f} {statistics.median(ratios):>18.2f}")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({label: [{str(c): r[c] for c in r} for r in runs]
                       for label, runs in results.items()}, f, indent=2)


if __name__ == "__main__":
    main()
