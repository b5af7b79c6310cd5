-- Contact lists (RFC 6121 rosters) and when a user was last seen in chat.
-- A row exists for every (user, contact) pair with any state: `in_roster` marks the items the user
-- keeps; `pending_in` a subscription request from the contact still waiting for an answer.
CREATE TABLE roster (
    app_id       BIGINT NOT NULL,
    user_id      BIGINT NOT NULL,
    contact_id   BIGINT NOT NULL,
    name         TEXT,
    subscription TEXT   NOT NULL DEFAULT 'none',
    ask          BIGINT NOT NULL DEFAULT 0,
    pending_in   BIGINT NOT NULL DEFAULT 0,
    in_roster    BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id, contact_id)
);
CREATE INDEX roster_contact ON roster (app_id, contact_id);

ALTER TABLE users ADD COLUMN last_logout_at BIGINT;
