-- Metric gates judge green against blue while a deployment is held.
-- `environments.metric_gate` holds an environment's gate settings (JSON;
-- NULL: the defaults, off). `deployments.metric_gates` holds what the gate
-- did at each hold of a deployment: its window, the figures of both sides,
-- the verdict and the action (JSON; NULL: no gate watched it).
ALTER TABLE environments ADD COLUMN metric_gate TEXT;
ALTER TABLE deployments ADD COLUMN metric_gates TEXT;
