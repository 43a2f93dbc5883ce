-- private_key_jwt client assertions (RFC 7523 §3), PostgreSQL dialect (mirrors sqlite/0005).
-- Owned by the OAuth work (crates/store/src/oauth.rs, sql/oauth/assertions.rs).
--
-- Every accepted assertion's `jti` is recorded until the assertion expires, so a replay is
-- refused on every node sharing the database. Only a keyed hash of (credential id, jti) is
-- stored. Rows past `expires_at` are dead (a new use of the same hash replaces them) and are
-- deleted by the hourly purge.

CREATE TABLE oauth_assertion_jtis (
    jti_hash    BYTEA   PRIMARY KEY NOT NULL CHECK (octet_length(jti_hash) = 32),
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX oauth_assertion_jtis_expires ON oauth_assertion_jtis (expires_at);
