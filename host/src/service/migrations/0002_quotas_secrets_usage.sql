-- Quotas beyond the run counts (JSON, every field optional: see quotas.rs),
-- per-tenant secrets for `api_key_env` (never readable through the API),
-- and what each tenant used, per UTC day, for the daily quotas.
ALTER TABLE tenants ADD COLUMN quotas TEXT NOT NULL DEFAULT '{}';

CREATE TABLE tenant_secrets (
    tenant TEXT NOT NULL REFERENCES tenants (name),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE tenant_usage (
    tenant TEXT NOT NULL REFERENCES tenants (name),
    day BIGINT NOT NULL,
    records BIGINT NOT NULL,
    stage_ms BIGINT NOT NULL,
    wall_ms BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    PRIMARY KEY (tenant, day)
);
