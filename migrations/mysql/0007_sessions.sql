-- An admin can disable an account: it can no longer sign in, and every session of it ends at
-- once (its refresh-token families are revoked in the same transaction).
ALTER TABLE users ADD COLUMN disabled_at DATETIME(6) NULL;
