-- Encrypted key-value maps and admin identities, PostgreSQL dialect: sqlite/0003 column for
-- column (TEXT ids, BIGINT  unix milliseconds, BIGINT 0/1 flags, BYTEA hashes and ciphertexts).

-- A KVM value is stored only sealed: AES-256-GCM under the master key's KVM subkey, with
-- "environment/map/key" as associated data, so a ciphertext copied into another row does not
-- open. Entries belong to an existing environment (the catalog refuses to delete one that
-- still holds entries; the foreign key is the backstop).
CREATE TABLE kvm_entries (
    environment  TEXT    NOT NULL REFERENCES environments (name),
    map          TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    ciphertext   BYTEA   NOT NULL,
    version      BIGINT  NOT NULL CHECK (version >= 1),
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
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
    totp_secret     BYTEA   NULL,
    totp_pending    BYTEA   NULL,
    totp_last_step  BIGINT  NULL,
    disabled        BIGINT  NOT NULL CHECK (disabled IN (0, 1)),
    version         BIGINT  NOT NULL CHECK (version >= 1),
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

-- Admin API tokens and login sessions: only the keyed hash (HMAC-SHA256 under a subkey of the
-- master key) and the public prefix are stored.
CREATE TABLE admin_tokens (
    id            TEXT    PRIMARY KEY NOT NULL,
    user_id       TEXT    NOT NULL REFERENCES admin_users (id),
    name          TEXT    NOT NULL,
    prefix        TEXT    NOT NULL UNIQUE,
    token_hash    BYTEA   NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'read-only')),
    session       BIGINT  NOT NULL CHECK (session IN (0, 1)),
    expires_at    BIGINT  NULL,
    revoked_at    BIGINT  NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT  NULL
);
CREATE INDEX admin_tokens_user_id ON admin_tokens (user_id);

-- Login throttling per attempted username, existing or not (so throttling cannot reveal which
-- users exist). Keyed by the keyed hash of the normalised username, so a password typed into
-- the username field is never stored in clear.
CREATE TABLE admin_login_throttle (
    username_hash    BYTEA   PRIMARY KEY NOT NULL CHECK (octet_length(username_hash) = 32),
    failures         BIGINT  NOT NULL,
    locked_until     BIGINT  NULL,
    last_failure_at  BIGINT  NOT NULL
);

-- The gateway caches KVM entries per environment: wake listening nodes like 0001's tables do.
CREATE TRIGGER kvm_entries_changed AFTER INSERT OR UPDATE OR DELETE ON kvm_entries
    FOR EACH ROW EXECUTE FUNCTION portcullis_data_changed();
