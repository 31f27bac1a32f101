# Each role's ARN is handed out only once its policy is attached, so nothing
# starts using a role that cannot do its job yet.

output "task_execution_role_arn" {
  value      = aws_iam_role.task_execution.arn
  depends_on = [aws_iam_role_policy.task_execution]
}

output "task_role_arn" {
  value      = aws_iam_role.task.arn
  depends_on = [aws_iam_role_policy.task]
}

output "codedeploy_role_arn" {
  value      = one(aws_iam_role.codedeploy[*].arn)
  depends_on = [aws_iam_role_policy_attachment.codedeploy]
}

output "ecs_infrastructure_role_arn" {
  value      = one(aws_iam_role.ecs_infrastructure[*].arn)
  depends_on = [aws_iam_role_policy_attachment.ecs_infrastructure]
}

output "codebuild_role_arn" {
  value      = one(aws_iam_role.codebuild[*].arn)
  depends_on = [aws_iam_role_policy.codebuild]
}

output "codepipeline_role_arn" {
  value      = one(aws_iam_role.codepipeline[*].arn)
  depends_on = [aws_iam_role_policy.codepipeline]
}

output "source_events_role_arn" {
  value      = one(aws_iam_role.source_events[*].arn)
  depends_on = [aws_iam_role_policy.source_events]
}
