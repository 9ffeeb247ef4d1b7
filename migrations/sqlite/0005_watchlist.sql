-- Each user's favourite pairs (twin of mysql/0005_watchlist.sql).
CREATE TABLE watchlist (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    pair      TEXT NOT NULL,
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, pair)
);
