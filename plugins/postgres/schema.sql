-- pop3host postgres plugin, schema version 1.
--
-- Applied by the plugin when its config says "apply_schema": true, or by the operator:
--   psql "$URL" -v ON_ERROR_STOP=1 -f schema.sql
-- The plugin refuses to start on a database whose schema_version is not the one it knows.

BEGIN;

CREATE TABLE schema_version (
    version integer NOT NULL
);
INSERT INTO schema_version (version) VALUES (1);

-- One row per login name. `name` is the canonical maildrop name (lower case: logins are
-- case-insensitive); `password` is a Dovecot passwd-file password field ("{SHA512-CRYPT}$6$...",
-- "{PLAIN}secret", a bare "$6$..." crypt hash; empty: cannot log in).
CREATE TABLE users (
    name        text PRIMARY KEY CHECK (name = lower(name) AND name <> ''),
    password    text NOT NULL,
    -- RFC 2449 LOGIN-DELAY in seconds, enforced across the cluster through last_login.
    login_delay integer CHECK (login_delay >= 0),
    -- RFC 2449 EXPIRE in days (NULL: not announced; -1: NEVER).
    expire_days integer CHECK (expire_days >= -1),
    enabled     boolean NOT NULL DEFAULT true,
    last_login  timestamptz
);

-- The messages. `size` is the size as POP3 sends it (every line ending CRLF, a final line
-- ending added), which the delivery tools compute; `body` is stored as delivered.
CREATE TABLE messages (
    id       bigserial PRIMARY KEY,
    user_name text NOT NULL REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
    uidl     text NOT NULL DEFAULT gen_random_uuid()::text
             CHECK (uidl ~ '^[!-~]{1,70}$'),
    size     bigint NOT NULL CHECK (size >= 0),
    received timestamptz NOT NULL DEFAULT now(),
    body     bytea NOT NULL,
    UNIQUE (user_name, uidl)
);
-- Uncompressed out-of-line storage, so that RETR's substring reads fetch only the chunks
-- they need instead of decompressing the whole body per read.
ALTER TABLE messages ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE INDEX messages_by_user ON messages (user_name, id);

-- The RFC 1939 maildrop lock across every pop3host instance: one row per open maildrop,
-- owned by an instance that renews `expires` while it runs (see the plugin's lock module).
CREATE TABLE maildrop_locks (
    user_name text PRIMARY KEY,
    instance  text NOT NULL,
    session   bigint NOT NULL,
    expires   timestamptz NOT NULL
);
CREATE INDEX maildrop_locks_by_instance ON maildrop_locks (instance);

COMMIT;
