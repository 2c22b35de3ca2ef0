-- OpenID Connect single sign-on (SEC-18, SEC-19): one provider per tenant, identities linked by
-- (issuer, subject), and the server-side state of each sign-in attempt.

CREATE TABLE sso_provider (
    tenant_id       UUID        PRIMARY KEY REFERENCES tenant (id) ON DELETE CASCADE,
    display_name    TEXT        NOT NULL,           -- shown on the "Sign in with …" button
    issuer          TEXT        NOT NULL,           -- https URL (loopback http in development)
    client_id       TEXT        NOT NULL,
    client_secret   BYTEA       NOT NULL,           -- sealed (Critical, tenant key; AAD = tenant id); write-only
    allowed_domains TEXT        NOT NULL,           -- space-separated, lowercase email domains
    jit             BOOLEAN     NOT NULL DEFAULT FALSE,
    jit_role        TEXT        NOT NULL CHECK (jit_role IN ('admin', 'member')),
    enforce         BOOLEAN     NOT NULL DEFAULT FALSE, -- SEC-19: no password sign-in or reset for members
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE sso_identity (
    issuer        TEXT        NOT NULL,
    subject       TEXT        NOT NULL,
    user_id       UUID        NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    tenant_id     UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE, -- whose provider linked it
    created_at    TIMESTAMPTZ NOT NULL,
    last_login_at TIMESTAMPTZ,
    PRIMARY KEY (issuer, subject)
);

CREATE INDEX sso_identity_by_user ON sso_identity (user_id);

CREATE TABLE sso_attempt (
    id           UUID        PRIMARY KEY,
    state_hash   BYTEA       NOT NULL UNIQUE,       -- SHA-256 of `state`; nonce and PKCE verifier are derived, never stored
    browser_hash BYTEA       NOT NULL,              -- SHA-256 of the __Host-attest-sso cookie
    tenant_id    UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    next_path    TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    link_user_id UUID        REFERENCES app_user (id) ON DELETE CASCADE, -- an existing account offered for linking
    link_issuer  TEXT,
    link_subject TEXT,
    linked_at    TIMESTAMPTZ
);

CREATE INDEX sso_attempt_by_browser ON sso_attempt (browser_hash);

-- The tenant a half-signed-in login continues into (an SSO sign-in that still needs Attest's
-- second factor lands in the provider's tenant, not the user's first one).
ALTER TABLE pending_login ADD COLUMN tenant_id UUID REFERENCES tenant (id) ON DELETE CASCADE;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON sso_provider, sso_identity, sso_attempt TO attest_app;
    END IF;
END
$$;
