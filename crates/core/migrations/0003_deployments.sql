-- What the tracker last observed of each deployment (the projection);
-- every change is also appended to events.
ALTER TABLE deployments ADD COLUMN task_definition_arn TEXT;
ALTER TABLE deployments ADD COLUMN lifecycle TEXT NOT NULL DEFAULT '[]';
ALTER TABLE deployments ADD COLUMN task_sets TEXT NOT NULL DEFAULT '[]';
ALTER TABLE deployments ADD COLUMN green_weight REAL NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN error_code TEXT;
ALTER TABLE deployments ADD COLUMN error_message TEXT;
ALTER TABLE deployments ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX deployments_idempotency ON deployments (environment_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_by_deployment ON events (deployment_id, id) WHERE deployment_id IS NOT NULL;

-- Production traffic on the replacement over time, as observed.
CREATE TABLE traffic_samples (
    id            INTEGER PRIMARY KEY,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    at            INTEGER NOT NULL,
    green_weight  REAL    NOT NULL
) STRICT;
CREATE INDEX traffic_samples_by_deployment ON traffic_samples (deployment_id, at);
