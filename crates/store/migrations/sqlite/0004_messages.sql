-- Per-user state of history messages: who read a message, who got it, who deleted it for himself only
-- ("hidden"), and reactions. The sender is implicitly a reader and a recipient of his own messages; no
-- rows are kept for him. Everything goes with the message (deleted for everyone, or with its dialog).
CREATE TABLE message_reads (
    message_seq BIGINT NOT NULL REFERENCES messages(seq) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL,
    PRIMARY KEY (message_seq, user_id)
);

CREATE TABLE message_deliveries (
    message_seq BIGINT NOT NULL REFERENCES messages(seq) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL,
    PRIMARY KEY (message_seq, user_id)
);

CREATE TABLE message_hidden (
    message_seq BIGINT NOT NULL REFERENCES messages(seq) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL,
    PRIMARY KEY (message_seq, user_id)
);

CREATE TABLE message_reactions (
    message_seq BIGINT NOT NULL REFERENCES messages(seq) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL,
    reaction    TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (message_seq, user_id, reaction)
);
