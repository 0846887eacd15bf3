#!/usr/bin/env python3
"""Load a mailbox into the database of sqlite-plugin (Python standard library only).

    load.py DATABASE USER PASSWORD [SOURCE ...]

Creates DATABASE with schema.sql (next to this script) if it has no tables yet, adds USER or
sets their password, and adds every message found in the SOURCEs to USER's maildrop:

    a Maildir            its new/ and cur/ messages (not those flagged T, trashed)
    a directory          every *.eml file in it
    a file               one message (.eml or any RFC 5322 file)

Messages are stored as they are, in their own line endings, with the size POP3 reports:
octets with every line ending in CRLF and a final CRLF if the message lacks one, before
dot-stuffing (the rules pop3host applies on the wire). A message already in the maildrop
(same bytes) is skipped, so running the script twice adds nothing. Everything is added in
one transaction: on any error, nothing is.
"""

import argparse
import hashlib
import pathlib
import sqlite3
import sys

SCHEMA = pathlib.Path(__file__).resolve().with_name("schema.sql")


def crlf_size(data: bytes) -> int:
    """The octets of `data` as pop3host sends it, before dot-stuffing.

    A bare LF becomes CRLF; a CR not followed by LF is data; an unterminated last line gets
    an LF (after a CR) or a CRLF.
    """
    size = len(data) + data.count(b"\n") - data.count(b"\r\n")
    if data and not data.endswith(b"\n"):
        size += 1 if data.endswith(b"\r") else 2
    return size


def maildir_messages(maildir: pathlib.Path):
    for sub in ("cur", "new"):
        for path in sorted((maildir / sub).iterdir()):
            flags = path.name.partition(":2,")[2]
            if path.is_file() and not path.name.startswith(".") and "T" not in flags:
                yield path


def messages(source: pathlib.Path):
    """The message files of one SOURCE argument, oldest first where that can be told."""
    if source.is_dir() and (source / "cur").is_dir() and (source / "new").is_dir():
        paths = sorted(maildir_messages(source), key=lambda p: p.name)
    elif source.is_dir():
        paths = sorted(source.glob("*.eml"))
    elif source.is_file():
        paths = [source]
    else:
        raise SystemExit(f"load.py: {source}: no such file or directory")
    yield from paths


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Load a Maildir or .eml files into a sqlite-plugin database."
    )
    parser.add_argument("database", type=pathlib.Path)
    parser.add_argument("user")
    parser.add_argument("password")
    parser.add_argument("sources", nargs="*", type=pathlib.Path, metavar="SOURCE")
    args = parser.parse_args()

    db = sqlite3.connect(args.database, timeout=10)
    try:
        db.executescript(SCHEMA.read_text())
        added = skipped = 0
        with db:  # one transaction
            db.execute(
                "INSERT INTO users (name, password) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET password = excluded.password",
                (args.user, args.password),
            )
            (user_id,) = db.execute(
                "SELECT id FROM users WHERE name = ?", (args.user,)
            ).fetchone()
            for source in args.sources:
                for path in messages(source):
                    body = path.read_bytes()
                    digest = hashlib.sha256(body).hexdigest()
                    # Looked up first: a conflicting INSERT would still use up an id.
                    if db.execute(
                        "SELECT 1 FROM messages WHERE user_id = ? AND digest = ?",
                        (user_id, digest),
                    ).fetchone():
                        skipped += 1
                        continue
                    db.execute(
                        "INSERT INTO messages (user_id, size, digest, body) "
                        "VALUES (?, ?, ?, ?)",
                        (user_id, crlf_size(body), digest, body),
                    )
                    added += 1
        total = db.execute(
            "SELECT count(*) FROM messages WHERE user_id = ?", (user_id,)
        ).fetchone()[0]
    finally:
        db.close()
    print(
        f"{args.database}: {args.user}: {added} messages added, "
        f"{skipped} already there, {total} in the maildrop"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
