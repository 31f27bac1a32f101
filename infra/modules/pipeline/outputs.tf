output "codedeploy_application_name" {
  value = one(aws_codedeploy_app.app[*].name)
}

output "codedeploy_deployment_group_name" {
  value = one(aws_codedeploy_deployment_group.app[*].deployment_group_name)
}

output "pipeline_name" {
  value = one(aws_codepipeline.app[*].name)
}

output "pipeline_arn" {
  value = one(aws_codepipeline.app[*].arn)
}

output "artifact_bucket" {
  value = one(aws_s3_bucket.artifacts[*].bucket)
}

output "codebuild_project_name" {
  value = one(aws_codebuild_project.app[*].name)
}

output "codecommit_clone_url_http" {
  value = one(aws_codecommit_repository.app[*].clone_url_http)
}

output "codestar_connection_arn" {
  value = one(aws_codestarconnections_connection.app[*].arn)
}

output "codestar_connection_status" {
  description = "PENDING until the handshake with the provider is completed in the AWS console."
  value       = one(aws_codestarconnections_connection.app[*].connection_status)
}
