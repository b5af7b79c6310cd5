-- Replay protection for signed session requests keys on the signature itself: an exact replay is
-- refused, while two different requests that happen to share a (timestamp, nonce) both succeed.
DROP TABLE nonces;
CREATE TABLE used_signatures (
    app_id    BIGINT NOT NULL,
    signature TEXT   NOT NULL,
    used_at   BIGINT NOT NULL,
    PRIMARY KEY (app_id, signature)
);
CREATE INDEX used_signatures_used_at ON used_signatures (used_at);
