-- OAuth 2.0 / OpenID Connect authorization server, PostgreSQL dialect (mirrors sqlite/0004 column for column).
-- Owned by the OAuth work (crates/store/src/oauth.rs, sql/oauth/).
--
-- Nothing here can be presented by a client: tokens and codes are stored as keyed hashes
-- (HMAC-SHA256 under a subkey of the master key), signing keys sealed (AES-256-GCM), user
-- passwords as argon2id PHC strings. Timestamps are unix milliseconds; lists are JSON text.
-- No foreign keys to api_keys: credentials can be deleted by the management plane, and their
-- tokens then simply stop resolving to a usable client.

CREATE TABLE oauth_tokens (
    id             TEXT    PRIMARY KEY NOT NULL,
    token_hash     BYTEA   NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    kind           TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    format         TEXT    NOT NULL CHECK (format IN ('opaque', 'jwt')),
    credential_id  TEXT    NOT NULL,
    subject        TEXT    NULL,
    scopes         TEXT    NOT NULL,
    products       TEXT    NOT NULL,
    issued_at      BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    family_id      TEXT    NOT NULL,
    parent_id      TEXT    NULL,
    code_id        TEXT    NULL,
    cnf_x5t        TEXT    NULL,
    cnf_jkt        TEXT    NULL,
    claims         TEXT    NOT NULL,
    used_at        BIGINT  NULL,
    revoked_at     BIGINT  NULL
);
CREATE INDEX oauth_tokens_family ON oauth_tokens (family_id);
CREATE INDEX oauth_tokens_expires ON oauth_tokens (expires_at);

CREATE TABLE oauth_codes (
    id              TEXT    PRIMARY KEY NOT NULL,
    code_hash       BYTEA   NOT NULL UNIQUE CHECK (octet_length(code_hash) = 32),
    credential_id   TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    scopes          TEXT    NOT NULL,
    products        TEXT    NOT NULL,
    redirect_uri    TEXT    NOT NULL,
    code_challenge  TEXT    NOT NULL,
    nonce           TEXT    NULL,
    auth_time       BIGINT  NOT NULL,
    issued_at       BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    family_id       TEXT    NOT NULL,
    used_at         BIGINT  NULL,
    replayed_at     BIGINT  NULL
);
CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);

CREATE TABLE oauth_signing_keys (
    kid           TEXT    PRIMARY KEY NOT NULL,
    alg           TEXT    NOT NULL,
    private_key   BYTEA   NOT NULL,
    public_jwk    TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    created_at    BIGINT  NOT NULL,
    activated_at  BIGINT  NULL,
    retired_at    BIGINT  NULL
);
-- At most one key signs at a time.
CREATE UNIQUE INDEX oauth_signing_keys_one_active ON oauth_signing_keys (state) WHERE state = 'active';

CREATE TABLE oauth_users (
    id             TEXT    PRIMARY KEY NOT NULL,
    username       TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,
    claims         TEXT    NOT NULL,
    disabled       BIGINT  NOT NULL CHECK (disabled IN (0, 1)),
    version        BIGINT  NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);
