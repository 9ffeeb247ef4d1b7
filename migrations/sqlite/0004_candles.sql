-- Price history (twin of mysql/0004_candles.sql): OHLC of the mid per pair, 1 m candles and
-- their 5 m and 1 h roll-ups (span in seconds). Decimals as canonical TEXT, times as integer
-- microseconds; the shape is checked in Rust (text does not compare as numbers).
CREATE TABLE candles (
    pair   TEXT NOT NULL,
    span   INTEGER NOT NULL CHECK (span IN (60, 300, 3600)),
    start  INTEGER NOT NULL,
    open   TEXT NOT NULL,
    high   TEXT NOT NULL,
    low    TEXT NOT NULL,
    close  TEXT NOT NULL,
    ticks  INTEGER NOT NULL CHECK (ticks > 0),
    PRIMARY KEY (pair, span, start)
);
CREATE INDEX candles_age ON candles (span, start);
