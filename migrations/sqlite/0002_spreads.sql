-- Admin-set spreads and their append-only audit trail (twin of mysql/0002_spreads.sql).
-- Decimals are TEXT in canonical form (what rust_decimal prints): exact, never a float.
-- A canonical decimal is negative exactly when it starts with '-', which is what the CHECKs use.
CREATE TABLE spreads (
    pair        TEXT NOT NULL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('absolute', 'bps')),
    buy         TEXT NOT NULL CHECK (buy NOT LIKE '-%'),
    sell        TEXT NOT NULL CHECK (sell NOT LIKE '-%'),
    updated_at  INTEGER NOT NULL,
    updated_by  INTEGER NOT NULL
);

CREATE TABLE spread_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pair        TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('set', 'delete')),
    actor_id    INTEGER NOT NULL,
    actor_email TEXT NOT NULL,
    at          INTEGER NOT NULL,
    old_kind    TEXT NULL,
    old_buy     TEXT NULL,
    old_sell    TEXT NULL,
    new_kind    TEXT NULL,
    new_buy     TEXT NULL,
    new_sell    TEXT NULL,
    reason      TEXT NULL
);
CREATE INDEX spread_audit_pair ON spread_audit (pair, id);

-- The database itself refuses to rewrite history.
CREATE TRIGGER spread_audit_no_update BEFORE UPDATE ON spread_audit
BEGIN
    SELECT RAISE(ABORT, 'spread_audit is append-only');
END;

CREATE TRIGGER spread_audit_no_delete BEFORE DELETE ON spread_audit
BEGIN
    SELECT RAISE(ABORT, 'spread_audit is append-only');
END;
