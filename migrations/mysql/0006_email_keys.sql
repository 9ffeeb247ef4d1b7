-- One account per look-alike: the SHA-256 of an email's UTS #39 skeleton (after NFKC and case
-- folding, combining marks removed). Unique, so two registrations of look-alike addresses
-- cannot both succeed, even at the same instant. NULL for rows written before this migration
-- until the startup check (auth::email_audit) has keyed them; a row whose key is already
-- taken by an older look-alike stays NULL and is reported, never rewritten.
ALTER TABLE users ADD COLUMN email_key BINARY(32) NULL AFTER email,
    ADD UNIQUE KEY users_email_key (email_key);
