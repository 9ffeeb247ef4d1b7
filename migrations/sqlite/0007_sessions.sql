-- Disabled accounts (twin of mysql/0007_sessions.sql).
ALTER TABLE users ADD COLUMN disabled_at INTEGER NULL;
