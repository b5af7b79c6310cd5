-- Dialogs, their occupants with per-user state, chat history, and 1-1 messages waiting for an offline user.
CREATE TABLE dialogs (
    id                     TEXT    PRIMARY KEY,
    app_id                 BIGINT  NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    type                   BIGINT  NOT NULL,
    user_id                BIGINT  NOT NULL,
    name                   TEXT,
    description            TEXT,
    photo                  TEXT,
    extensions             TEXT,
    permissions            TEXT,
    -- "{app}:{low uid}:{high uid}" for private dialogs, so a pair has only one.
    private_key            TEXT    UNIQUE,
    last_message           TEXT,
    last_message_id        TEXT,
    last_message_user_id   BIGINT,
    last_message_date_sent BIGINT,
    created_at             BIGINT  NOT NULL,
    updated_at             BIGINT  NOT NULL
);
CREATE INDEX dialogs_app ON dialogs (app_id, type);

CREATE TABLE dialog_occupants (
    dialog_id     TEXT    NOT NULL REFERENCES dialogs(id) ON DELETE CASCADE,
    user_id       BIGINT  NOT NULL,
    unread_count  BIGINT  NOT NULL DEFAULT 0,
    joined_at     BIGINT  NOT NULL,
    PRIMARY KEY (dialog_id, user_id)
);
CREATE INDEX dialog_occupants_user ON dialog_occupants (user_id);

CREATE TABLE messages (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT    NOT NULL,
    app_id       BIGINT  NOT NULL,
    dialog_id    TEXT    NOT NULL REFERENCES dialogs(id) ON DELETE CASCADE,
    sender_id    BIGINT  NOT NULL,
    recipient_id BIGINT  NOT NULL DEFAULT 0,
    body         TEXT,
    attachments  TEXT    NOT NULL DEFAULT '[]',
    custom       TEXT    NOT NULL DEFAULT '{}',
    date_sent    BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    UNIQUE (dialog_id, sender_id, id)
);
CREATE INDEX messages_dialog_date ON messages (dialog_id, date_sent, id);
CREATE INDEX messages_id ON messages (id);

CREATE TABLE offline_messages (
    seq        BIGSERIAL PRIMARY KEY,
    app_id     BIGINT  NOT NULL,
    user_id    BIGINT  NOT NULL,
    payload    TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX offline_messages_user ON offline_messages (app_id, user_id, seq);
