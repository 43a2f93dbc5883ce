-- Portcullis key storage, SQLite dialect.
-- Ids are TEXT (random, prefixed), timestamps are INTEGER unix milliseconds,
-- so the PostgreSQL migration can mirror this schema column for column.

CREATE TABLE developers (
    id          TEXT    PRIMARY KEY NOT NULL,
    email       TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('active', 'inactive')),
    created_at  INTEGER NOT NULL
);

CREATE TABLE apps (
    id            TEXT    PRIMARY KEY NOT NULL,
    developer_id  TEXT    NOT NULL REFERENCES developers (id),
    name          TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('approved', 'revoked')),
    created_at    INTEGER NOT NULL,
    UNIQUE (developer_id, name)
);

-- The plaintext key is never stored: only its SHA-256 (key_hash) and the
-- short display prefix used to identify it in listings and revocations.
CREATE TABLE api_keys (
    id          TEXT    PRIMARY KEY NOT NULL,
    app_id      TEXT    NOT NULL REFERENCES apps (id),
    prefix      TEXT    NOT NULL UNIQUE,
    key_hash    BLOB    NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    status      TEXT    NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NULL,
    revoked_at  INTEGER NULL
);

CREATE INDEX api_keys_app_id ON api_keys (app_id);

-- Every write appends here in the same transaction; readers in other
-- processes compare MAX(seq) to notice that their snapshot is stale.
CREATE TABLE change_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    entity     TEXT    NOT NULL,
    entity_id  TEXT    NOT NULL,
    at         INTEGER NOT NULL
);
