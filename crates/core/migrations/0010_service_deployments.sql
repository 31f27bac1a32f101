-- Deployments through ECS's own controller: followed by the service
-- deployment's ARN (CodeDeploy ones keep codedeploy_id), with ECS's own
-- status word beside the shared one, and the lifecycle hooks' executions
-- (a PAUSE hook waiting for a decision among them).
ALTER TABLE deployments ADD COLUMN service_deployment_arn TEXT;
CREATE UNIQUE INDEX deployments_by_service_deployment ON deployments (service_deployment_arn)
    WHERE service_deployment_arn IS NOT NULL;
ALTER TABLE deployments ADD COLUMN cloud_status TEXT;
ALTER TABLE deployments ADD COLUMN hooks TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(hooks));
-- The strategy, bake time and gates the deployment was started with (the
-- environment's may change later): its planned shift is drawn from them.
ALTER TABLE deployments ADD COLUMN ecs_deployment TEXT
    CHECK (ecs_deployment IS NULL OR json_valid(ecs_deployment));
