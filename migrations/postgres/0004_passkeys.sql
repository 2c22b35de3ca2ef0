-- Passkeys (WebAuthn): registered credentials, the random user handle authenticators keep
-- instead of any personal data, and short-lived server-side ceremony state.

ALTER TABLE app_user ADD COLUMN webauthn_handle UUID;  -- random, set at the first passkey
CREATE UNIQUE INDEX app_user_webauthn_handle ON app_user (webauthn_handle);

CREATE TABLE passkey (
    id            UUID        PRIMARY KEY,
    user_id       UUID        NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    credential_id TEXT        NOT NULL UNIQUE,     -- base64url; unique across all accounts
    name          TEXT        NOT NULL,            -- the user's label, e.g. "YubiKey 5" or "Laptop"
    credential    TEXT        NOT NULL,            -- webauthn-rs Passkey as JSON: public key, counter, flags
    discoverable  BOOLEAN     NOT NULL DEFAULT FALSE, -- credProps.rk: usable without a username
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ
);

CREATE INDEX passkey_by_user ON passkey (user_id);

CREATE TABLE webauthn_ceremony (
    id         UUID        PRIMARY KEY,            -- random; the only thing the browser holds
    kind       TEXT        NOT NULL CHECK (kind IN ('register', 'second_factor', 'reauth', 'sign_in')),
    bound_to   UUID        NOT NULL,               -- session or pending login it belongs to (nil for sign-in)
    user_id    UUID        REFERENCES app_user (id) ON DELETE CASCADE,
    state      TEXT        NOT NULL,               -- webauthn-rs ceremony state (challenge, policy)
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX webauthn_ceremony_by_expiry ON webauthn_ceremony (expires_at);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON passkey, webauthn_ceremony TO attest_app;
    END IF;
END
$$;
