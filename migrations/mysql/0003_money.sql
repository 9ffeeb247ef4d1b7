-- Money: double-entry ledger, balances, quotes, orders, idempotency (DESIGN §8).
--
-- Every movement is one ledger transaction whose entries sum to zero per asset. Accounts are
-- 'user:<id>' (mirrored in `balances`, which may never go negative), 'house' (the gateway's
-- book, the counterparty of every trade) and 'external' (money entering through deposits).

CREATE TABLE ledger_transactions (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind        ENUM('deposit', 'trade') NOT NULL,
    reference   VARCHAR(64) NOT NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY ledger_transactions_ref (reference)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE ledger_entries (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tx_id       BIGINT UNSIGNED NOT NULL,
    account     VARCHAR(40) NOT NULL,
    asset       VARCHAR(16) NOT NULL,
    amount      DECIMAL(38, 18) NOT NULL,
    KEY ledger_entries_account (account, asset),
    KEY ledger_entries_tx (tx_id),
    CONSTRAINT ledger_entries_tx FOREIGN KEY (tx_id) REFERENCES ledger_transactions (id),
    CONSTRAINT ledger_entries_nonzero CHECK (amount <> 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE balances (
    user_id     BIGINT UNSIGNED NOT NULL,
    asset       VARCHAR(16) NOT NULL,
    available   DECIMAL(38, 18) NOT NULL DEFAULT 0,
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (user_id, asset),
    CONSTRAINT balances_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT balances_never_negative CHECK (available >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE quotes (
    id           CHAR(36) NOT NULL PRIMARY KEY,
    user_id      BIGINT UNSIGNED NOT NULL,
    pair         VARCHAR(40) NOT NULL,
    side         ENUM('buy', 'sell') NOT NULL,
    amount       DECIMAL(38, 18) NOT NULL,
    price        DECIMAL(38, 18) NOT NULL,
    total        DECIMAL(38, 18) NOT NULL,
    raw_bid      DECIMAL(38, 18) NOT NULL,
    raw_ask      DECIMAL(38, 18) NOT NULL,
    spread_kind  ENUM('absolute', 'bps') NOT NULL,
    spread_buy   DECIMAL(36, 18) NOT NULL,
    spread_sell  DECIMAL(36, 18) NOT NULL,
    revenue      DECIMAL(38, 18) NOT NULL,
    created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at   DATETIME(6) NOT NULL,
    consumed_at  DATETIME(6) NULL,
    KEY quotes_expires (expires_at),
    CONSTRAINT quotes_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT quotes_positive CHECK (amount > 0 AND price > 0 AND total > 0 AND revenue >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE orders (
    id           CHAR(36) NOT NULL PRIMARY KEY,
    quote_id     CHAR(36) NOT NULL,
    user_id      BIGINT UNSIGNED NOT NULL,
    pair         VARCHAR(40) NOT NULL,
    side         ENUM('buy', 'sell') NOT NULL,
    amount       DECIMAL(38, 18) NOT NULL,
    price        DECIMAL(38, 18) NOT NULL,
    total        DECIMAL(38, 18) NOT NULL,
    revenue      DECIMAL(38, 18) NOT NULL,
    status       ENUM('filled') NOT NULL,
    ledger_tx_id BIGINT UNSIGNED NOT NULL,
    created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY orders_quote (quote_id),
    KEY orders_user (user_id, created_at, id),
    CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT orders_ledger FOREIGN KEY (ledger_tx_id) REFERENCES ledger_transactions (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per (user, Idempotency-Key): the request's hash, and once done, the response.
CREATE TABLE idempotency_keys (
    user_id         BIGINT UNSIGNED NOT NULL,
    idem_key        VARCHAR(255) NOT NULL,
    request_hash    BINARY(32) NOT NULL,
    state           ENUM('in_flight', 'done') NOT NULL,
    response_status SMALLINT UNSIGNED NULL,
    response_body   MEDIUMTEXT NULL,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (user_id, idem_key),
    KEY idempotency_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
