-- The hosts of a deployment's blue and green target groups, as the load
-- balancer last counted them (JSON; NULL: not counted yet): what its
-- task-set cards say of their health.
ALTER TABLE deployments ADD COLUMN target_health TEXT;
