-- Identity: tenants, users, memberships, sessions, login throttling, one-time tokens, mail outbox.

CREATE TABLE tenant (
    id           BLOB    PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    mfa_required INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT    NOT NULL
) STRICT;

CREATE TABLE app_user (
    id             BLOB    PRIMARY KEY,
    email          TEXT    NOT NULL UNIQUE,      -- normalised: trimmed, lowercase
    display_name   TEXT    NOT NULL,
    password_hash  TEXT,                         -- PHC string, Argon2id; NULL until set
    pepper_version INTEGER,
    status         TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at     TEXT    NOT NULL,
    last_login_at  TEXT
) STRICT;

CREATE TABLE membership (
    tenant_id  BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) STRICT;

CREATE INDEX membership_user ON membership (user_id);

CREATE TABLE session (
    id           BLOB    PRIMARY KEY,
    token_hash   BLOB    NOT NULL UNIQUE,        -- SHA-256 of the cookie value; the value is never stored
    user_id      BLOB    NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    tenant_id    BLOB    REFERENCES tenant (id) ON DELETE SET NULL,
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,               -- absolute lifetime
    source_ip    TEXT,
    user_agent   TEXT,
    ended_at     TEXT,
    end_reason   TEXT
) STRICT;

CREATE INDEX session_by_user ON session (user_id, ended_at);

CREATE TABLE login_throttle (
    account_key     BLOB    PRIMARY KEY,         -- SHA-256 of the normalised email
    failures        INTEGER NOT NULL,
    window_start    TEXT    NOT NULL,
    next_allowed_at TEXT    NOT NULL
) STRICT;

CREATE TABLE one_time_token (
    id         BLOB PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('bootstrap', 'invitation', 'password_reset')),
    token_hash BLOB NOT NULL UNIQUE,
    tenant_id  BLOB REFERENCES tenant (id) ON DELETE CASCADE,
    user_id    BLOB REFERENCES app_user (id) ON DELETE CASCADE,
    email      TEXT,
    role       TEXT,
    created_by BLOB,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
) STRICT;

CREATE TABLE mail_outbox (
    id              BLOB    PRIMARY KEY,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            BLOB    NOT NULL,            -- sealed with the system key (Critical)
    created_at      TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    sent_at         TEXT,
    last_error      TEXT
) STRICT;

CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);
