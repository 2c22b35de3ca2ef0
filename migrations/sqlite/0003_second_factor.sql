-- Second factors (TOTP, recovery codes), the half-signed-in state between password and second
-- factor, step-up freshness on sessions, and email-change links.

CREATE TABLE totp_factor (
    user_id      BLOB    PRIMARY KEY REFERENCES app_user (id) ON DELETE CASCADE,
    secret       BLOB    NOT NULL,               -- sealed (Critical, installation key; AAD = user id)
    confirmed_at TEXT,                           -- NULL until a first code confirmed the enrolment
    created_at   TEXT    NOT NULL,
    last_step    INTEGER NOT NULL DEFAULT 0,     -- highest 30 s step accepted: each code once
    fail_step    INTEGER NOT NULL DEFAULT 0,     -- step of the latest failures
    fail_count   INTEGER NOT NULL DEFAULT 0      -- failures within fail_step
) STRICT;

CREATE TABLE recovery_code (
    id             BLOB    PRIMARY KEY,
    user_id        BLOB    NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    selector       TEXT    NOT NULL,             -- first 4 characters of the code, to find its hash
    code_hash      TEXT    NOT NULL,             -- Argon2id PHC of the rest, with the pepper
    pepper_version INTEGER NOT NULL,
    created_at     TEXT    NOT NULL,
    used_at        TEXT,
    UNIQUE (user_id, selector)
) STRICT;

CREATE TABLE pending_login (
    id         BLOB    PRIMARY KEY,
    token_hash BLOB    NOT NULL UNIQUE,          -- SHA-256 of the cookie value
    user_id    BLOB    NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    failures   INTEGER NOT NULL DEFAULT 0,
    ended_at   TEXT
) STRICT;

CREATE INDEX pending_login_by_user ON pending_login (user_id);

ALTER TABLE session ADD COLUMN second_factor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE session ADD COLUMN reauth_at TEXT;

CREATE TABLE one_time_token_v2 (
    id         BLOB PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('bootstrap', 'invitation', 'password_reset', 'email_change')),
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

INSERT INTO one_time_token_v2 SELECT * FROM one_time_token;
DROP TABLE one_time_token;
ALTER TABLE one_time_token_v2 RENAME TO one_time_token;
