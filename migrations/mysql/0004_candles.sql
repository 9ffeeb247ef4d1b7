-- Price history: OHLC of the mid per pair, 1 m candles and their 5 m and 1 h roll-ups
-- (span in seconds: 60, 300, 3600). A minute without ticks has no row: gaps stay gaps.
CREATE TABLE candles (
    pair   VARCHAR(40) NOT NULL,
    span   BIGINT UNSIGNED NOT NULL,
    start  DATETIME(6) NOT NULL,
    open   DECIMAL(38, 18) NOT NULL,
    high   DECIMAL(38, 18) NOT NULL,
    low    DECIMAL(38, 18) NOT NULL,
    close  DECIMAL(38, 18) NOT NULL,
    ticks  BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (pair, span, start),
    KEY candles_age (span, start),
    CONSTRAINT candles_span CHECK (span IN (60, 300, 3600)),
    CONSTRAINT candles_shape CHECK (low > 0 AND low <= open AND low <= close
                                    AND high >= open AND high >= close AND ticks > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
