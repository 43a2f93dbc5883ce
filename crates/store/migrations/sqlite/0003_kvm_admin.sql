-- Encrypted key-value maps and admin identities, SQLite dialect (mirrored column for column
-- in postgres/0003). Ids are TEXT, times INTEGER unix milliseconds, flags INTEGER 0/1.

-- A KVM value is stored only sealed: AES-256-GCM under the master key's KVM subkey, with
-- "environment/map/key" as associated data, so a ciphertext copied into another row does not
-- open. Entries belong to an existing environment (the catalog refuses to delete one that
-- still holds entries; the foreign key is the backstop).
CREATE TABLE kvm_entries (
    environment  TEXT    NOT NULL REFERENCES environments (name),
    map          TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    ciphertext   BLOB    NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (environment, map, key)
);

-- Admin users. password_hash is an argon2id PHC string; TOTP seeds are sealed with the
-- master key's TOTP subkey (bound to the user id). totp_secret is the confirmed seed (login
-- requires a code while it is set); totp_pending holds a seed between begin and confirm, so
-- re-enrolling never switches two-factor off. totp_last_step is the last accepted time step:
-- a code is accepted only for a later step, which refuses replays.
CREATE TABLE admin_users (
    id              TEXT    PRIMARY KEY NOT NULL,
    username        TEXT    NOT NULL UNIQUE,
    password_hash   TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'read-only')),
    totp_secret     BLOB    NULL,
    totp_pending    BLOB    NULL,
    totp_last_step  INTEGER NULL,
    disabled        INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    version         INTEGER NOT NULL CHECK (version >= 1),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- Admin API tokens and login sessions: only the keyed hash (HMAC-SHA256 under a subkey of the
-- master key) and the public prefix are stored.
CREATE TABLE admin_tokens (
    id            TEXT    PRIMARY KEY NOT NULL,
    user_id       TEXT    NOT NULL REFERENCES admin_users (id),
    name          TEXT    NOT NULL,
    prefix        TEXT    NOT NULL UNIQUE,
    token_hash    BLOB    NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'read-only')),
    session       INTEGER NOT NULL CHECK (session IN (0, 1)),
    expires_at    INTEGER NULL,
    revoked_at    INTEGER NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NULL
);
CREATE INDEX admin_tokens_user_id ON admin_tokens (user_id);

-- Login throttling per attempted username, existing or not (so throttling cannot reveal which
-- users exist). Keyed by the keyed hash of the normalised username, so a password typed into
-- the username field is never stored in clear.
CREATE TABLE admin_login_throttle (
    username_hash    BLOB    PRIMARY KEY NOT NULL CHECK (length(username_hash) = 32),
    failures         INTEGER NOT NULL,
    locked_until     INTEGER NULL,
    last_failure_at  INTEGER NOT NULL
);
