-- The service's durable state: tenants (only a hash of each token) and runs.
-- Portable SQL: the same migration runs on SQLite and PostgreSQL.
CREATE TABLE tenants (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    admin BIGINT NOT NULL,
    weight BIGINT NOT NULL,
    max_running BIGINT NOT NULL,
    max_queued BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (name),
    seq BIGINT NOT NULL,
    pipeline TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    start_order BIGINT,
    finished_at BIGINT,
    kept BIGINT,
    rejected BIGINT,
    quarantined BIGINT
);

CREATE INDEX runs_by_tenant ON runs (tenant, seq);
CREATE INDEX runs_by_status ON runs (status, seq);
