-- Access recertification (SEC-38): an admin starts a review; every membership becomes an item
-- that a reviewer (by default the tenant's owners) confirms or revokes; unanswered items
-- escalate by mail after the due date.

CREATE TABLE access_review (
    id           BLOB PRIMARY KEY,
    tenant_id    BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_by   BLOB REFERENCES app_user (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    due_at       TEXT NOT NULL,
    escalated_at TEXT,
    closed_at    TEXT
) STRICT;

CREATE INDEX access_review_by_tenant ON access_review (tenant_id, created_at DESC);

CREATE TABLE access_review_item (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    review_id   BLOB NOT NULL REFERENCES access_review (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    user_name   TEXT NOT NULL,
    user_email  TEXT NOT NULL,
    role        TEXT NOT NULL,
    decision    TEXT NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'confirmed', 'revoked')),
    decided_by  BLOB REFERENCES app_user (id) ON DELETE SET NULL,
    decided_at  TEXT
) STRICT;

CREATE INDEX access_review_item_by_review ON access_review_item (review_id);
