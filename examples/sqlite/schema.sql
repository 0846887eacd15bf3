-- The mail database of sqlite-plugin. load.py creates it (and fills it); the plugin only
-- reads it and deletes messages. Safe to run again: every statement is IF NOT EXISTS.

-- Write-ahead logging: load.py can add mail while sessions read. Stored in the file.
PRAGMA journal_mode = WAL;

CREATE TABLE IF NOT EXISTS users (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    -- In clear, as the example keeps it simple (and APOP would need it). A real deployment
    -- stores a slow hash (argon2, bcrypt) and verifies it in `authenticate`.
    password TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS messages (
    -- The UIDL. AUTOINCREMENT makes SQLite never reuse an id, even that of the newest message
    -- after it was deleted, so a client that leaves mail on the server never mistakes a new
    -- message for one it has seen.
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The size POP3 reports, counted by load.py: octets with every line ending in CRLF and a
    -- final CRLF if the message lacked one, before dot-stuffing.
    size    INTEGER NOT NULL CHECK (size >= 0),
    -- SHA-256 of `body` in hex: loading the same message twice adds it once.
    digest  TEXT NOT NULL,
    -- The message as it was found, in its own line endings: the host converts them.
    body    BLOB NOT NULL,
    UNIQUE (user_id, digest)
);

-- LIST at login: one user's messages in id order.
CREATE INDEX IF NOT EXISTS messages_by_user ON messages (user_id, id);
