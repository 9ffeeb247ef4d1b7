-- Admin-set limits per pair ('BTC/USD'): the largest amount one quote may be for (NULL: only
-- the book's depth limits it), and the amounts of the live price-at-size ladder as
-- comma-separated decimals (NULL: the pair's minimum × 10, × 100, × 1000).
CREATE TABLE pair_limits (
    pair        VARCHAR(40) NOT NULL PRIMARY KEY,
    max_amount  DECIMAL(38, 18) NULL,
    ladder      VARCHAR(400) NULL,
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_by  BIGINT UNSIGNED NOT NULL,
    CONSTRAINT pair_limits_positive CHECK (max_amount IS NULL OR max_amount > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
