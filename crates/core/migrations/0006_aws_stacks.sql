-- AWS environments: the aws-config profile their credentials come from
-- (NULL: the default chain of the server's environment, profile, SSO or
-- instance role).
ALTER TABLE environments ADD COLUMN aws_profile TEXT;
