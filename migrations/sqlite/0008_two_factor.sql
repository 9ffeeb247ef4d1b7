-- Two-factor sign-in (twin of mysql/0008_two_factor.sql).
CREATE TABLE two_factor (
    user_id      INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB NOT NULL,
    confirmed_at INTEGER NULL,
    last_step    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    used_at   INTEGER NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Accounts that must enrol before anything else (admins made by create-admin).
ALTER TABLE users ADD COLUMN two_factor_required_at INTEGER NULL;
