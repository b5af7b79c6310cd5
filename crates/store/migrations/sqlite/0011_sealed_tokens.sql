-- A session's token sealed under the server's token key, kept until a chat login first derives the
-- token's SCRAM keys (then cleared).
ALTER TABLE sessions ADD COLUMN token_sealed BLOB;
