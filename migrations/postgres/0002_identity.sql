-- Identity: tenants, users, memberships, sessions, login throttling, one-time tokens, mail outbox.

CREATE TABLE tenant (
    id           UUID    PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    mfa_required BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE app_user (
    id             UUID    PRIMARY KEY,
    email          TEXT    NOT NULL UNIQUE,      -- normalised: trimmed, lowercase
    display_name   TEXT    NOT NULL,
    password_hash  TEXT,                         -- PHC string, Argon2id; NULL until set
    pepper_version BIGINT,
    status         TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at     TIMESTAMPTZ NOT NULL,
    last_login_at  TIMESTAMPTZ
);

CREATE TABLE membership (
    tenant_id  UUID NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE INDEX membership_user ON membership (user_id);

CREATE TABLE session (
    id           UUID    PRIMARY KEY,
    token_hash   BYTEA    NOT NULL UNIQUE,        -- SHA-256 of the cookie value; the value is never stored
    user_id      UUID    NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    tenant_id    UUID    REFERENCES tenant (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,               -- absolute lifetime
    source_ip    TEXT,
    user_agent   TEXT,
    ended_at     TIMESTAMPTZ,
    end_reason   TEXT
);

CREATE INDEX session_by_user ON session (user_id, ended_at);

CREATE TABLE login_throttle (
    account_key     BYTEA   PRIMARY KEY,         -- SHA-256 of the normalised email
    failures        BIGINT NOT NULL,
    window_start    TIMESTAMPTZ NOT NULL,
    next_allowed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE one_time_token (
    id         UUID PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('bootstrap', 'invitation', 'password_reset')),
    token_hash BYTEA NOT NULL UNIQUE,
    tenant_id  UUID REFERENCES tenant (id) ON DELETE CASCADE,
    user_id    UUID REFERENCES app_user (id) ON DELETE CASCADE,
    email      TEXT,
    role       TEXT,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);

CREATE TABLE mail_outbox (
    id              UUID    PRIMARY KEY,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            BYTEA    NOT NULL,            -- sealed with the system key (Critical)
    created_at      TIMESTAMPTZ NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ,
    last_error      TEXT
);

CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);

-- The app role reads and writes identity tables; it owns none of them (SEC-34).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON tenant, app_user, membership, session,
            login_throttle, one_time_token, mail_outbox TO attest_app;
    END IF;
END
$$;
