-- Each user's favourite pairs, kept server-side so the watchlist follows the user.
CREATE TABLE watchlist (
    user_id   BIGINT UNSIGNED NOT NULL,
    pair      VARCHAR(40) NOT NULL,
    added_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (user_id, pair),
    CONSTRAINT watchlist_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
