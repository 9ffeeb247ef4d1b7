-- One account per look-alike (twin of mysql/0006_email_keys.sql): the SHA-256 of an email's
-- UTS #39 skeleton; NULL until the startup check has keyed an older row.
ALTER TABLE users ADD COLUMN email_key BLOB NULL;
CREATE UNIQUE INDEX users_email_key ON users (email_key);
