-- Foundation: the tamper-evident audit trail and the wrapped data keys.
-- Classification (SEC-63) of every column is declared in docs/DATA-CLASSIFICATION.md.

CREATE TABLE audit_chain (
    chain_id    BLOB    PRIMARY KEY,          -- the tenant id, or the nil UUID for the system chain
    last_seq    INTEGER NOT NULL,
    last_hash   BLOB    NOT NULL
) STRICT;

CREATE TABLE audit_event (
    id          BLOB    PRIMARY KEY,
    chain_id    BLOB    NOT NULL,
    seq         INTEGER NOT NULL,
    tenant_id   BLOB,                         -- NULL on the system chain
    occurred_at TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    BLOB,
    action      TEXT    NOT NULL,
    object_kind TEXT,
    object_id   TEXT,
    outcome     TEXT    NOT NULL,
    source_ip   TEXT,
    request_id  BLOB,
    details     TEXT    NOT NULL,
    prev_hash   BLOB    NOT NULL,
    hash        BLOB    NOT NULL,
    UNIQUE (chain_id, seq)
) STRICT;

CREATE INDEX audit_event_tenant_time ON audit_event (tenant_id, occurred_at);

-- Append-only: the application can never change or remove an entry (SEC-73).
CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit_event is append-only');
END;

CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit_event is append-only');
END;

CREATE TABLE data_key (
    tenant_id      BLOB    NOT NULL,
    classification TEXT    NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    kek_version    INTEGER NOT NULL,
    wrapped        BLOB    NOT NULL,
    created_at     TEXT    NOT NULL,
    rewrapped_at   TEXT,
    PRIMARY KEY (tenant_id, classification)
) STRICT;
