-- Login federation: local end users linked to an external OpenID provider's subject.
-- A federated user is a row of oauth_users whose password_hash is '!' (no password can match),
-- found again by (provider, subject) on every later login.
CREATE TABLE oauth_user_links (
    provider    TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    user_id     TEXT    NOT NULL REFERENCES oauth_users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    last_login  INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_user_links_user ON oauth_user_links (user_id);
