-- Applications, users with their credentials, REST sessions and the nonces of signed requests.
-- Times are Unix milliseconds; booleans are 0/1 so one SQL text serves SQLite and PostgreSQL.
CREATE TABLE apps (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT    NOT NULL,
    auth_key    TEXT    NOT NULL,
    auth_secret TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE users (
    id               BIGSERIAL PRIMARY KEY,
    app_id           BIGINT  NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    login            TEXT,
    login_lower      TEXT,
    email            TEXT,
    email_lower      TEXT,
    full_name        TEXT,
    phone            TEXT,
    website          TEXT,
    custom_data      TEXT,
    avatar           TEXT,
    blob_id          BIGINT,
    external_user_id BIGINT,
    external_id      TEXT,
    facebook_id      TEXT,
    twitter_id       TEXT,
    user_tags        TEXT,
    timezone         BIGINT,
    is_guest         BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    last_request_at  BIGINT
);
CREATE UNIQUE INDEX users_login_unique ON users (app_id, login_lower);
CREATE UNIQUE INDEX users_email_unique ON users (app_id, email_lower);
CREATE INDEX users_full_name ON users (app_id, full_name);

CREATE TABLE credentials (
    user_id          BIGINT  PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    password_hash    TEXT    NOT NULL,
    scram_salt       BYTEA    NOT NULL,
    scram_iterations BIGINT  NOT NULL,
    sha1_stored_key  BYTEA    NOT NULL,
    sha1_server_key  BYTEA    NOT NULL,
    sha256_stored_key BYTEA   NOT NULL,
    sha256_server_key BYTEA   NOT NULL
);

CREATE TABLE sessions (
    id                BIGSERIAL PRIMARY KEY,
    app_id            BIGINT  NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id           BIGINT  REFERENCES users(id) ON DELETE CASCADE,
    token_hash        TEXT    NOT NULL UNIQUE,
    scram_salt        BYTEA,
    scram_iterations  BIGINT,
    sha1_stored_key   BYTEA,
    sha1_server_key   BYTEA,
    sha256_stored_key BYTEA,
    sha256_server_key BYTEA,
    nonce             BIGINT,
    ts                BIGINT  NOT NULL,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    ttl               BIGINT  NOT NULL
);
CREATE INDEX sessions_user ON sessions (app_id, user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE nonces (
    app_id  BIGINT NOT NULL,
    ts      BIGINT NOT NULL,
    nonce   BIGINT NOT NULL,
    used_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, ts, nonce)
);
CREATE INDEX nonces_used_at ON nonces (used_at);
