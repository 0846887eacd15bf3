#!/usr/bin/env python3
"""Figures of the maildir plugin on the release build (not part of the test suite).

(a) login + STAT + LIST on a 100,000-message maildir whose file names carry no size
    (no ,S= or ,W=): the first login measures every message and writes the size cache;
    the figure is a later login, which takes every size from the cache.
(b) RETR throughput: one client fetches a mailbox of about 100 messages / 25 MB, message
    by message, and checks every byte count against LIST.

Each figure is measured RUNS times (default 5) and the median printed. Everything lives in a
temporary directory that is removed at the end; the server listens on 127.0.0.1 only.

Build first:  cargo build --release -p pop3host -p maildir
Run:          python3 scripts/maildir-figures.py [--runs 5] [--messages 100000]
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "pop3host")
PLUGIN = os.path.join(ROOT, "target", "release", "libmaildir.so")
PASSWORD = "password"
TIMEOUT = 120


def small_message(i):
    return (
        f"From: sender{i % 97}@example.org\nTo: bench@example.org\n"
        f"Subject: message {i}\nMessage-ID: <{i}@bench>\n\n"
        f"Body of message {i}.\n.a line with a leading dot\n"
    ).encode()


def large_message(i, size):
    """About `size` octets of 76-character text lines (LF ends, a few dot lines)."""
    line = (f"{i:06d} " + "The quick brown fox jumps over the lazy dog. " * 2)[:76] + "\n"
    head = f"From: big@example.org\nSubject: large {i}\n\n".encode()
    body = bytearray()
    n = 0
    while len(body) < size:
        body += b".\n" if n % 500 == 499 else line.encode()
        n += 1
    return head + bytes(body)


def write_maildir(maildir, messages):
    """Messages in cur/ already Seen, so a QUIT renames nothing and every run is alike."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    pid = os.getpid()
    total = 0
    for i, content in enumerate(messages):
        name = f"{1700000000 + i}.M{i}P{pid}.bench:2,S"
        with open(os.path.join(maildir, "cur", name), "wb") as f:
            f.write(content)
        total += len(content)
    return total


class Server:
    """target/release/pop3host with the maildir plugin on a free loopback port."""

    def __init__(self, config):
        self.proc = subprocess.Popen(
            [BINARY, "--plugin", PLUGIN, "--plugin-config", json.dumps(config),
             "--listen", "127.0.0.1:0", "--log-level", "info"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        found = threading.Event()
        self.port = None

        def drain():
            for raw in self.proc.stderr:
                line = raw.decode(errors="replace")
                match = re.search(r"listening addr=127\.0\.0\.1:(\d+)", line)
                if match and self.port is None:
                    self.port = int(match.group(1))
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(30):
            self.stop()
            sys.exit("pop3host did not start listening")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Client:
    """A raw POP3 client that reads in large blocks (so the client costs little)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.buf = bytearray()
        self.line()

    def fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def line(self):
        while (end := self.buf.find(b"\r\n")) < 0:
            self.fill()
        line = bytes(self.buf[:end])
        del self.buf[:end + 2]
        return line

    def cmd(self, command):
        self.sock.sendall(command.encode() + b"\r\n")
        reply = self.line()
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"{command}: {reply!r}")
        return reply

    def body(self):
        """A multi-line body up to the terminator, still dot-stuffed, without it. The status
        line's CRLF is already consumed, so look for the terminator as a line of its own."""
        if self.buf[:3] == b".\r\n" or (len(self.buf) < 3 and self._empty_body()):
            del self.buf[:3]
            return b""
        start = 0
        while (end := self.buf.find(b"\r\n.\r\n", start)) < 0:
            start = max(0, len(self.buf) - 4)
            self.fill()
        body = bytes(self.buf[:end + 2])
        del self.buf[:end + 5]
        return body

    def _empty_body(self):
        while len(self.buf) < 3:
            self.fill()
        return self.buf[:3] == b".\r\n"

    def login(self, user):
        self.cmd(f"USER {user}")
        return self.cmd(f"PASS {PASSWORD}")

    def close(self):
        self.sock.close()


def unstuffed_length(body):
    """Octets of a dot-stuffed body once unstuffed: one less per line starting with a dot."""
    return len(body) - body.count(b"\r\n.") - (1 if body.startswith(b".") else 0)


def login_stat_list(port, expected_count):
    started = time.perf_counter()
    c = Client(port)
    c.login("bench")
    count = int(c.cmd("STAT").split()[1])
    c.cmd("LIST")
    listing = c.body()
    elapsed = time.perf_counter() - started
    c.cmd("QUIT")
    c.close()
    if count != expected_count or listing.count(b"\r\n") != expected_count:
        raise RuntimeError(f"listed {count} messages, expected {expected_count}")
    return elapsed


def fetch_all(port, expected_octets):
    c = Client(port)
    c.login("big")
    c.cmd("LIST")
    sizes = [int(line.split()[1]) for line in c.body().split(b"\r\n") if line]
    started = time.perf_counter()
    octets = 0
    for n, size in enumerate(sizes, 1):
        c.cmd(f"RETR {n}")
        got = unstuffed_length(c.body())
        if got != size:
            raise RuntimeError(f"message {n}: {got} octets, LIST said {size}")
        octets += got
    elapsed = time.perf_counter() - started
    c.cmd("QUIT")
    c.close()
    if octets != expected_octets:
        raise RuntimeError(f"fetched {octets} octets, expected {expected_octets}")
    return elapsed, octets


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--large-messages", type=int, default=100)
    parser.add_argument("--large-mb", type=float, default=25.0)
    args = parser.parse_args()
    for path in (BINARY, PLUGIN):
        if not os.path.exists(path):
            sys.exit(f"{path} missing: cargo build --release -p pop3host -p maildir")

    tmp = tempfile.mkdtemp(prefix="maildir-figures-")
    server = None
    try:
        with open(os.path.join(tmp, "users"), "w") as f:
            f.write(f"bench:{{PLAIN}}{PASSWORD}\nbig:{{PLAIN}}{PASSWORD}\n")
        mail = os.path.join(tmp, "mail")

        started = time.perf_counter()
        small = [small_message(i) for i in range(args.messages)]
        write_maildir(os.path.join(mail, "bench"), small)
        each = int(args.large_mb * 1e6 / args.large_messages)
        large = [large_message(i, each) for i in range(args.large_messages)]
        write_maildir(os.path.join(mail, "big"), large)
        # Sizes on the wire: every LF becomes CRLF (all lines end in LF here).
        large_octets = sum(len(m) + m.count(b"\n") for m in large)
        print(f"corpus: {args.messages} small messages, {args.large_messages} messages of "
              f"{large_octets / 1e6:.1f} MB in all; written in "
              f"{time.perf_counter() - started:.1f} s under {tmp}")

        server = Server({"passwd_file": os.path.join(tmp, "users"),
                         "maildir": os.path.join(mail, "%u")})

        first = login_stat_list(server.port, args.messages)
        cache = os.path.join(mail, "bench", "pop3host-sizes")
        with open(cache) as f:
            cached = int(f.readline().split()[2])
        if cached != args.messages:
            raise RuntimeError(f"the size cache has {cached} entries")
        print(f"(a) first login + STAT + LIST, {args.messages} messages, measuring every "
              f"message and writing the size cache: {first * 1000:.0f} ms")
        times = [login_stat_list(server.port, args.messages) for _ in range(args.runs)]
        print(f"(a) later login + STAT + LIST, sizes from the cache: median "
              f"{statistics.median(times) * 1000:.0f} ms over {args.runs} runs "
              f"({', '.join(f'{t * 1000:.0f}' for t in times)} ms)")

        fetch_all(server.port, large_octets)  # warm-up: measures sizes, fills the page cache
        rates = []
        for _ in range(args.runs):
            elapsed, octets = fetch_all(server.port, large_octets)
            rates.append(octets / elapsed / 1e6)
        print(f"(b) RETR of {args.large_messages} messages, {large_octets / 1e6:.1f} MB, one "
              f"client: median {statistics.median(rates):.0f} MB/s over {args.runs} runs "
              f"({', '.join(f'{r:.0f}' for r in rates)} MB/s; MB = 10^6 octets)")
    finally:
        if server:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
