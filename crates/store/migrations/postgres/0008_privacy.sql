-- Privacy lists (XEP-0016): named lists per user, at most one of them the default, with ordered items.
CREATE TABLE privacy_lists (
    id         BIGSERIAL PRIMARY KEY,
    app_id     BIGINT  NOT NULL,
    user_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    is_default BIGINT  NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    UNIQUE (app_id, user_id, name)
);
CREATE UNIQUE INDEX privacy_lists_default ON privacy_lists (app_id, user_id) WHERE is_default = 1;

CREATE TABLE privacy_items (
    list_id   BIGINT  NOT NULL REFERENCES privacy_lists(id) ON DELETE CASCADE,
    -- The item's `order`.
    position  BIGINT  NOT NULL,
    -- 'jid', or NULL for a fall-through item.
    item_type TEXT,
    value     TEXT,
    -- 'allow' or 'deny'.
    action    TEXT    NOT NULL,
    -- Stanza kinds: 1 message, 2 presence-in, 4 presence-out, 8 iq; 0 = every stanza, both ways.
    stanzas   BIGINT  NOT NULL,
    PRIMARY KEY (list_id, position)
);
