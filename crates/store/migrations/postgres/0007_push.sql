-- Push notifications: device subscriptions, push events created through REST, per-app settings (the
-- chat-alert template and provider credentials), the durable send queue and the record of what was sent.
CREATE TABLE push_subscriptions (
    id                BIGSERIAL PRIMARY KEY,
    app_id            BIGINT  NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id           BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- apns, apns_voip, gcm, web
    channel           TEXT    NOT NULL,
    -- ios, android, web
    platform          TEXT    NOT NULL,
    udid              TEXT    NOT NULL,
    -- development, production
    environment       TEXT    NOT NULL,
    -- The provider's device token (client_identification_sequence), or the web push endpoint.
    token             TEXT    NOT NULL,
    bundle_identifier TEXT,
    web_auth          TEXT,
    web_p256dh        TEXT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    -- A device (udid) has one subscription per channel; subscribing again, as any user, takes it over.
    UNIQUE (app_id, udid, channel)
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (app_id, user_id);

CREATE TABLE push_events (
    id          BIGSERIAL PRIMARY KEY,
    app_id      BIGINT  NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id     BIGINT,
    push_type   TEXT,
    environment TEXT,
    event_type  TEXT    NOT NULL,
    name        TEXT,
    message     TEXT    NOT NULL,
    -- JSON array of recipient user ids.
    recipients  TEXT    NOT NULL,
    -- 0: waiting for the dispatcher, 1: turned into queued notifications.
    state       BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE INDEX push_events_pending ON push_events (state, id);

-- Per-app settings as JSON: `chat_alert_template`, `fcm`, `apns`.
CREATE TABLE push_settings (
    app_id     BIGINT  NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (app_id, name)
);

-- One row per notification, device and provider still to send.
CREATE TABLE push_queue (
    id              BIGSERIAL PRIMARY KEY,
    app_id          BIGINT  NOT NULL,
    user_id         BIGINT  NOT NULL,
    subscription_id BIGINT  NOT NULL REFERENCES push_subscriptions(id) ON DELETE CASCADE,
    -- fcm, apns, webhook
    provider        TEXT    NOT NULL,
    dedupe_key      TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    leased_until    BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX push_queue_due ON push_queue (next_attempt_at, id);
CREATE INDEX push_queue_subscription ON push_queue (subscription_id);

-- What was queued for which device and provider, and how it ended: a notification is never queued twice.
CREATE TABLE push_sent (
    dedupe_key      TEXT    NOT NULL,
    subscription_id BIGINT  NOT NULL,
    provider        TEXT    NOT NULL,
    app_id          BIGINT  NOT NULL,
    user_id         BIGINT  NOT NULL,
    -- queued, sent, failed, invalid_token, dropped
    status          TEXT    NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    detail          TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (dedupe_key, subscription_id, provider)
);
CREATE INDEX push_sent_created ON push_sent (created_at);
