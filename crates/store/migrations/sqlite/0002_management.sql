-- Management plane, SQLite dialect (mirrored column for column in postgres/0002).
-- Owned by the catalog work: environments, developer/app/credential extensions, products,
-- credential × product approvals, and the audit log.
--
-- Conventions: timestamps are unix milliseconds; lists and attribute maps are JSON text
-- (validated by the repository before they are written); every mutable row carries a
-- `version` for optimistic concurrency (starts at 1, +1 per change).

CREATE TABLE environments (
    name         TEXT    PRIMARY KEY NOT NULL,
    description  TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

ALTER TABLE developers ADD COLUMN attributes TEXT    NOT NULL DEFAULT '{}';
ALTER TABLE developers ADD COLUMN version    INTEGER NOT NULL DEFAULT 1;
ALTER TABLE developers ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE developers SET updated_at = created_at;
CREATE INDEX developers_created ON developers (created_at, id);

ALTER TABLE apps ADD COLUMN callback_urls TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE apps ADD COLUMN attributes    TEXT    NOT NULL DEFAULT '{}';
ALTER TABLE apps ADD COLUMN version       INTEGER NOT NULL DEFAULT 1;
ALTER TABLE apps ADD COLUMN updated_at    INTEGER NOT NULL DEFAULT 0;
UPDATE apps SET updated_at = created_at;
CREATE INDEX apps_created ON apps (created_at, id);
CREATE INDEX apps_developer_id ON apps (developer_id);

-- api_keys is the credentials table: the consumer key (key_hash, prefix) and, for credentials
-- issued through the management plane, the consumer secret. Both only as keyed hashes
-- (HMAC-SHA256 under a subkey of the master key); legacy keys have no secret (NULL).
ALTER TABLE api_keys ADD COLUMN secret_hash BLOB NULL
    CHECK (secret_hash IS NULL OR length(secret_hash) = 32);
ALTER TABLE api_keys ADD COLUMN version    INTEGER NOT NULL DEFAULT 1;
ALTER TABLE api_keys ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE api_keys SET updated_at = COALESCE(revoked_at, created_at);
CREATE UNIQUE INDEX api_keys_secret_hash ON api_keys (secret_hash);

-- API products. apis/paths/methods/environments/scopes are JSON arrays of strings (empty =
-- no restriction), attributes a JSON object; the three quota columns are all set or all NULL.
CREATE TABLE products (
    name            TEXT    PRIMARY KEY NOT NULL,
    display_name    TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    apis            TEXT    NOT NULL,
    paths           TEXT    NOT NULL,
    methods         TEXT    NOT NULL,
    environments    TEXT    NOT NULL,
    scopes          TEXT    NOT NULL,
    quota_limit     INTEGER NULL CHECK (quota_limit IS NULL OR quota_limit > 0),
    quota_interval  INTEGER NULL CHECK (quota_interval IS NULL OR quota_interval > 0),
    quota_unit      TEXT    NULL CHECK (quota_unit IS NULL OR quota_unit IN ('minute', 'hour', 'day', 'month')),
    approval_type   TEXT    NOT NULL CHECK (approval_type IN ('auto', 'manual')),
    attributes      TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK ((quota_limit IS NULL) = (quota_interval IS NULL)
       AND (quota_limit IS NULL) = (quota_unit IS NULL))
);
CREATE INDEX products_created ON products (created_at, name);

-- Credential × product: Apigee's per-product approval level.
CREATE TABLE credential_products (
    credential_id  TEXT    NOT NULL REFERENCES api_keys (id),
    product        TEXT    NOT NULL REFERENCES products (name),
    status         TEXT    NOT NULL CHECK (status IN ('approved', 'pending', 'revoked')),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (credential_id, product)
);
CREATE INDEX credential_products_product ON credential_products (product);

-- Append-only from every API's point of view: only the repositories insert, in the same
-- transaction as the change they describe. before/after are JSON with secrets redacted.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    entity     TEXT    NOT NULL,
    entity_id  TEXT    NOT NULL,
    before     TEXT    NULL,
    after      TEXT    NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX audit_log_actor ON audit_log (actor);
