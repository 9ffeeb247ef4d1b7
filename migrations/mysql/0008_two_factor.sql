-- Two-factor sign-in (TOTP, RFC 6238). One row per account that started enrolment; it counts
-- only once confirmed with a first code. last_step is the newest 30 s step a code was accepted
-- for: a code of that step or an older one is refused, so a code cannot be replayed.
CREATE TABLE two_factor (
    user_id      BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    secret       VARBINARY(64) NOT NULL,
    confirmed_at DATETIME(6) NULL,
    last_step    BIGINT NOT NULL DEFAULT 0,
    created_at   DATETIME(6) NOT NULL,
    CONSTRAINT two_factor_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One-time recovery codes, only their SHA-256 (they are 80 random bits each).
CREATE TABLE recovery_codes (
    user_id   BIGINT UNSIGNED NOT NULL,
    code_hash BINARY(32) NOT NULL,
    used_at   DATETIME(6) NULL,
    PRIMARY KEY (user_id, code_hash),
    CONSTRAINT recovery_codes_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Accounts that may sign in only to enrol until they have two-factor sign-in (admins made by
-- create-admin), whatever ADMIN_REQUIRE_2FA says.
ALTER TABLE users ADD COLUMN two_factor_required_at DATETIME(6) NULL;
