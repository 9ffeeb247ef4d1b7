-- Accounts and refresh-token families (the SQLite twin of mysql/0001_accounts.sql).
-- Times are INTEGER microseconds since the Unix epoch (UTC): exact, and they sort as numbers.
-- Roles are never taken from a client: register always creates 'user'.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    INTEGER NOT NULL
);

-- Only each token's SHA-256 is stored; presenting a rotated or revoked token revokes its family.
CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    rotated_at  INTEGER NULL,
    revoked_at  INTEGER NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
