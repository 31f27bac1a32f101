-- Which controller shifts an environment's traffic: CodeDeploy (every
-- environment so far) or ECS itself; and, for ECS, the strategy, bake time
-- and pause gates switchyard sends with each UpdateService (a JSON object
-- in the shape the API takes).
ALTER TABLE environments ADD COLUMN deployment_controller TEXT NOT NULL DEFAULT 'codedeploy'
    CHECK (deployment_controller IN ('codedeploy', 'ecs'));
ALTER TABLE environments ADD COLUMN ecs_deployment TEXT
    CHECK (ecs_deployment IS NULL OR json_valid(ecs_deployment));
