-- Second factors (TOTP, recovery codes), the half-signed-in state between password and second
-- factor, step-up freshness on sessions, and email-change links.

CREATE TABLE totp_factor (
    user_id      UUID        PRIMARY KEY REFERENCES app_user (id) ON DELETE CASCADE,
    secret       BYTEA       NOT NULL,           -- sealed (Critical, installation key; AAD = user id)
    confirmed_at TIMESTAMPTZ,                    -- NULL until a first code confirmed the enrolment
    created_at   TIMESTAMPTZ NOT NULL,
    last_step    BIGINT      NOT NULL DEFAULT 0, -- highest 30 s step accepted: each code once
    fail_step    BIGINT      NOT NULL DEFAULT 0, -- step of the latest failures
    fail_count   BIGINT      NOT NULL DEFAULT 0  -- failures within fail_step
);

CREATE TABLE recovery_code (
    id             UUID        PRIMARY KEY,
    user_id        UUID        NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    selector       TEXT        NOT NULL,         -- first 4 characters of the code, to find its hash
    code_hash      TEXT        NOT NULL,         -- Argon2id PHC of the rest, with the pepper
    pepper_version BIGINT      NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    used_at        TIMESTAMPTZ,
    UNIQUE (user_id, selector)
);

CREATE TABLE pending_login (
    id         UUID        PRIMARY KEY,
    token_hash BYTEA       NOT NULL UNIQUE,      -- SHA-256 of the cookie value
    user_id    UUID        NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    failures   BIGINT      NOT NULL DEFAULT 0,
    ended_at   TIMESTAMPTZ
);

CREATE INDEX pending_login_by_user ON pending_login (user_id);

ALTER TABLE session ADD COLUMN second_factor BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE session ADD COLUMN reauth_at TIMESTAMPTZ;

ALTER TABLE one_time_token DROP CONSTRAINT one_time_token_purpose_check;
ALTER TABLE one_time_token ADD CONSTRAINT one_time_token_purpose_check
    CHECK (purpose IN ('bootstrap', 'invitation', 'password_reset', 'email_change'));

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON totp_factor, recovery_code, pending_login
            TO attest_app;
    END IF;
END
$$;
