-- OpenID Connect single sign-on (SEC-18, SEC-19): one provider per tenant, identities linked by
-- (issuer, subject), and the server-side state of each sign-in attempt.

CREATE TABLE sso_provider (
    tenant_id       BLOB    PRIMARY KEY REFERENCES tenant (id) ON DELETE CASCADE,
    display_name    TEXT    NOT NULL,               -- shown on the "Sign in with …" button
    issuer          TEXT    NOT NULL,               -- https URL (loopback http in development)
    client_id       TEXT    NOT NULL,
    client_secret   BLOB    NOT NULL,               -- sealed (Critical, tenant key; AAD = tenant id); write-only
    allowed_domains TEXT    NOT NULL,               -- space-separated, lowercase email domains
    jit             INTEGER NOT NULL DEFAULT 0,
    jit_role        TEXT    NOT NULL CHECK (jit_role IN ('admin', 'member')),
    enforce         INTEGER NOT NULL DEFAULT 0,     -- SEC-19: no password sign-in or reset for members
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;

CREATE TABLE sso_identity (
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       BLOB NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    tenant_id     BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE, -- whose provider linked it
    created_at    TEXT NOT NULL,
    last_login_at TEXT,
    PRIMARY KEY (issuer, subject)
) STRICT;

CREATE INDEX sso_identity_by_user ON sso_identity (user_id);

CREATE TABLE sso_attempt (
    id           BLOB PRIMARY KEY,
    state_hash   BLOB NOT NULL UNIQUE,              -- SHA-256 of `state`; nonce and PKCE verifier are derived, never stored
    browser_hash BLOB NOT NULL,                     -- SHA-256 of the __Host-attest-sso cookie
    tenant_id    BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    next_path    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    link_user_id BLOB REFERENCES app_user (id) ON DELETE CASCADE, -- an existing account offered for linking
    link_issuer  TEXT,
    link_subject TEXT,
    linked_at    TEXT
) STRICT;

CREATE INDEX sso_attempt_by_browser ON sso_attempt (browser_hash);

-- The tenant a half-signed-in login continues into (an SSO sign-in that still needs Attest's
-- second factor lands in the provider's tenant, not the user's first one).
ALTER TABLE pending_login ADD COLUMN tenant_id BLOB REFERENCES tenant (id) ON DELETE CASCADE;
