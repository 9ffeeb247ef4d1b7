-- Admin-set spreads, per pair ('BTC/USD') or 'default', per side; values >= 0.
CREATE TABLE spreads (
    pair        VARCHAR(40) NOT NULL PRIMARY KEY,
    kind        ENUM('absolute', 'bps') NOT NULL,
    buy         DECIMAL(36, 18) NOT NULL,
    sell        DECIMAL(36, 18) NOT NULL,
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_by  BIGINT UNSIGNED NOT NULL,
    CONSTRAINT spreads_non_negative CHECK (buy >= 0 AND sell >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Append-only audit trail of every change: who, when, old, new, reason.
CREATE TABLE spread_audit (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    pair        VARCHAR(40) NOT NULL,
    action      ENUM('set', 'delete') NOT NULL,
    actor_id    BIGINT UNSIGNED NOT NULL,
    actor_email VARCHAR(254) NOT NULL,
    at          DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    old_kind    ENUM('absolute', 'bps') NULL,
    old_buy     DECIMAL(36, 18) NULL,
    old_sell    DECIMAL(36, 18) NULL,
    new_kind    ENUM('absolute', 'bps') NULL,
    new_buy     DECIMAL(36, 18) NULL,
    new_sell    DECIMAL(36, 18) NULL,
    reason      VARCHAR(500) NULL,
    KEY spread_audit_pair (pair, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The database itself refuses to rewrite history.
CREATE TRIGGER spread_audit_no_update BEFORE UPDATE ON spread_audit FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'spread_audit is append-only';

CREATE TRIGGER spread_audit_no_delete BEFORE DELETE ON spread_audit FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'spread_audit is append-only';
