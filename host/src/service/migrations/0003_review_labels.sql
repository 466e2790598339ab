-- The human review queue's labels: one per record a reviewer judged, with
-- the record as it was shown (so labels outlive the run's files), and the
-- order they were given in (for undo).
CREATE TABLE review_labels (
    tenant TEXT NOT NULL REFERENCES tenants (name),
    run_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    label TEXT NOT NULL,
    record TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (tenant, run_id, record_id)
);

CREATE INDEX review_labels_by_seq ON review_labels (tenant, run_id, seq);
