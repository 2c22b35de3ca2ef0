-- Passkeys (WebAuthn): registered credentials, the random user handle authenticators keep
-- instead of any personal data, and short-lived server-side ceremony state.

ALTER TABLE app_user ADD COLUMN webauthn_handle BLOB;  -- random 16 bytes, set at the first passkey
CREATE UNIQUE INDEX app_user_webauthn_handle ON app_user (webauthn_handle);

CREATE TABLE passkey (
    id            BLOB    PRIMARY KEY,
    user_id       BLOB    NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    credential_id TEXT    NOT NULL UNIQUE,         -- base64url; unique across all accounts
    name          TEXT    NOT NULL,                -- the user's label, e.g. "YubiKey 5" or "Laptop"
    credential    TEXT    NOT NULL,                -- webauthn-rs Passkey as JSON: public key, counter, flags
    discoverable  INTEGER NOT NULL DEFAULT 0,      -- credProps.rk: usable without a username
    created_at    TEXT    NOT NULL,
    last_used_at  TEXT
) STRICT;

CREATE INDEX passkey_by_user ON passkey (user_id);

CREATE TABLE webauthn_ceremony (
    id         BLOB PRIMARY KEY,                   -- random; the only thing the browser holds
    kind       TEXT NOT NULL CHECK (kind IN ('register', 'second_factor', 'reauth', 'sign_in')),
    bound_to   BLOB NOT NULL,                      -- session or pending login it belongs to (nil for sign-in)
    user_id    BLOB REFERENCES app_user (id) ON DELETE CASCADE,
    state      TEXT NOT NULL,                      -- webauthn-rs ceremony state (challenge, policy)
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX webauthn_ceremony_by_expiry ON webauthn_ceremony (expires_at);
