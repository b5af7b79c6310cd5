-- Operators' tools: accounts an operator blocked (no new REST session, no chat login), and the audit log
-- of every change made through the admin API or the command line.
CREATE TABLE blocked_users (
    user_id    BIGINT  PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    app_id     BIGINT  NOT NULL,
    blocked_at BIGINT  NOT NULL
);

CREATE TABLE admin_audit (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT  NOT NULL,
    -- Where the action came from: `api` or `cli`.
    origin  TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    app_id  BIGINT,
    target  TEXT,
    -- JSON object with the action's parameters (never secrets).
    detail  TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX admin_audit_at ON admin_audit (at);
