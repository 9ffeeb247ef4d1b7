-- Admin-set limits per pair (twin of mysql/0009_pair_limits.sql): the largest amount one
-- quote may be for (NULL: only the book's depth limits it), and the ladder's amounts as
-- comma-separated canonical decimals (NULL: the pair's minimum × 10, × 100, × 1000).
CREATE TABLE pair_limits (
    pair        TEXT NOT NULL PRIMARY KEY,
    max_amount  TEXT NULL CHECK (max_amount IS NULL OR (max_amount NOT LIKE '-%' AND max_amount <> '0')),
    ladder      TEXT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  INTEGER NOT NULL
);
