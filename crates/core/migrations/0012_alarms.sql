-- CloudWatch alarms guard deployments. `environments.alarms` holds an
-- environment's alarm settings (JSON; NULL: the defaults, on, as the AWS
-- stack's variables default). `deployments.alarms` holds what a deployment
-- saw of the alarms it was guarded by: each alarm's state, its changes
-- during the deployment and whether it stopped it (JSON; NULL: none read).
ALTER TABLE environments ADD COLUMN alarms TEXT;
ALTER TABLE deployments ADD COLUMN alarms TEXT;

-- The load balancer's metrics of a deployment's two sides, a row per side
-- and period of the cloud's clock: what the alarms watch, kept with the
-- deployment for its page after CloudWatch has forgotten them.
CREATE TABLE deployment_metrics (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    side TEXT NOT NULL CHECK (side IN ('blue', 'green')),
    period_start INTEGER NOT NULL,
    requests REAL NOT NULL,
    target_5xx REAL NOT NULL,
    p99_seconds REAL,
    PRIMARY KEY (deployment_id, side, period_start)
) WITHOUT ROWID;
