-- Dialogs REST API: admins, pinned messages, and each member's own view of a dialog: hidden from his list
-- ("deleted for me", until a new message arrives), push notifications on/off, and the history cleared up
-- to a message sequence number. Broadcast dialogs have no member rows; their readers keep that state in
-- broadcast_viewers.
ALTER TABLE dialogs ADD COLUMN pinned_messages_ids TEXT NOT NULL DEFAULT '[]';
CREATE INDEX dialogs_app_updated ON dialogs (app_id, updated_at);

ALTER TABLE dialog_occupants ADD COLUMN hidden BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dialog_occupants ADD COLUMN notifications BIGINT NOT NULL DEFAULT 1;
ALTER TABLE dialog_occupants ADD COLUMN cleared_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE dialog_admins (
    dialog_id TEXT   NOT NULL REFERENCES dialogs(id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL,
    added_at  BIGINT NOT NULL,
    PRIMARY KEY (dialog_id, user_id)
);
CREATE INDEX dialog_admins_user ON dialog_admins (user_id);

CREATE TABLE broadcast_viewers (
    dialog_id     TEXT   NOT NULL REFERENCES dialogs(id) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL,
    hidden        BIGINT NOT NULL DEFAULT 0,
    notifications BIGINT NOT NULL DEFAULT 1,
    cleared_seq   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dialog_id, user_id)
);
