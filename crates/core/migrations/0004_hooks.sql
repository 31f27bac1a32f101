-- Lifecycle hooks every deployment's AppSpec carries: a JSON object of
-- lifecycle event -> function name (a Lambda function on AWS, a registered
-- command in the local cloud).
ALTER TABLE environments ADD COLUMN hooks TEXT NOT NULL DEFAULT '{}';
