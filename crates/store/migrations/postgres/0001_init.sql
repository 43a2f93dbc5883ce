-- Portcullis key storage, PostgreSQL dialect: the SQLite schema column for column
-- (TEXT ids, BIGINT unix milliseconds, BYTEA SHA-256 hashes), so one set of queries serves both.

CREATE TABLE developers (
    id          TEXT    PRIMARY KEY NOT NULL,
    email       TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('active', 'inactive')),
    created_at  BIGINT  NOT NULL
);

CREATE TABLE apps (
    id            TEXT    PRIMARY KEY NOT NULL,
    developer_id  TEXT    NOT NULL REFERENCES developers (id),
    name          TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('approved', 'revoked')),
    created_at    BIGINT  NOT NULL,
    UNIQUE (developer_id, name)
);

-- The plaintext key is never stored: only its SHA-256 (key_hash) and the
-- short display prefix used to identify it in listings and revocations.
CREATE TABLE api_keys (
    id          TEXT    PRIMARY KEY NOT NULL,
    app_id      TEXT    NOT NULL REFERENCES apps (id),
    prefix      TEXT    NOT NULL UNIQUE,
    key_hash    BYTEA   NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    status      TEXT    NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NULL,
    revoked_at  BIGINT  NULL
);

CREATE INDEX api_keys_app_id ON api_keys (app_id);

-- Every write appends here in the same transaction; readers compare MAX(seq)
-- to notice that their snapshot is stale. Writers hold an advisory lock for
-- the whole transaction, so seqs become visible in order.
CREATE TABLE change_log (
    seq        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity     TEXT    NOT NULL,
    entity_id  TEXT    NOT NULL,
    at         BIGINT  NOT NULL
);

-- PostgreSQL's counterpart of SQLite's data_version: moves on every row
-- change, including hand edits that bypass change_log, and wakes listening
-- gateways (NOTIFY is sent at commit, once per transaction for equal payloads).
CREATE TABLE data_version (
    only_row  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    version   BIGINT  NOT NULL
);
INSERT INTO data_version (version) VALUES (0);

CREATE FUNCTION portcullis_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE data_version SET version = version + 1;
    PERFORM pg_notify('portcullis_changes', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER developers_changed AFTER INSERT OR UPDATE OR DELETE ON developers
    FOR EACH ROW EXECUTE FUNCTION portcullis_data_changed();
CREATE TRIGGER apps_changed AFTER INSERT OR UPDATE OR DELETE ON apps
    FOR EACH ROW EXECUTE FUNCTION portcullis_data_changed();
CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION portcullis_data_changed();
