-- Money: double-entry ledger, balances, quotes, orders, idempotency (DESIGN §8); the twin of
-- mysql/0003_money.sql. Amounts are canonical decimal TEXT; the arithmetic happens in Rust
-- inside one write transaction (BEGIN IMMEDIATE: SQLite has one writer at a time, so a
-- read-check-write of a balance cannot race). The CHECKs below back that up in the database.

CREATE TABLE ledger_transactions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('deposit', 'trade')),
    reference   TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX ledger_transactions_ref ON ledger_transactions (reference);

CREATE TABLE ledger_entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_id       INTEGER NOT NULL REFERENCES ledger_transactions (id),
    account     TEXT NOT NULL,
    asset       TEXT NOT NULL,
    amount      TEXT NOT NULL CHECK (amount NOT IN ('0', '-0') AND amount NOT GLOB '*[^0-9.-]*')
);
CREATE INDEX ledger_entries_account ON ledger_entries (account, asset);
CREATE INDEX ledger_entries_tx ON ledger_entries (tx_id);

CREATE TABLE balances (
    user_id     INTEGER NOT NULL REFERENCES users (id),
    asset       TEXT NOT NULL,
    available   TEXT NOT NULL DEFAULT '0' CHECK (available NOT LIKE '-%'),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, asset)
);

CREATE TABLE quotes (
    id           TEXT NOT NULL PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    pair         TEXT NOT NULL,
    side         TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    amount       TEXT NOT NULL CHECK (amount NOT LIKE '-%'),
    price        TEXT NOT NULL CHECK (price NOT LIKE '-%'),
    total        TEXT NOT NULL CHECK (total NOT LIKE '-%'),
    raw_bid      TEXT NOT NULL,
    raw_ask      TEXT NOT NULL,
    spread_kind  TEXT NOT NULL,
    spread_buy   TEXT NOT NULL,
    spread_sell  TEXT NOT NULL,
    revenue      TEXT NOT NULL CHECK (revenue NOT LIKE '-%'),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    consumed_at  INTEGER NULL
);
CREATE INDEX quotes_expires ON quotes (expires_at);

CREATE TABLE orders (
    id           TEXT NOT NULL PRIMARY KEY,
    quote_id     TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    pair         TEXT NOT NULL,
    side         TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    amount       TEXT NOT NULL,
    price        TEXT NOT NULL,
    total        TEXT NOT NULL,
    revenue      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status = 'filled'),
    ledger_tx_id INTEGER NOT NULL REFERENCES ledger_transactions (id),
    created_at   INTEGER NOT NULL
);
CREATE INDEX orders_user ON orders (user_id, created_at, id);

CREATE TABLE idempotency_keys (
    user_id         INTEGER NOT NULL,
    idem_key        TEXT NOT NULL,
    request_hash    BLOB NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    response_status INTEGER NULL,
    response_body   TEXT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_created ON idempotency_keys (created_at);
