variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "enable_codedeploy" {
  description = "The CodeDeploy application and blue/green deployment group (false under ECS)."
  type        = bool
}

variable "deployment_controller" {
  description = "CODE_DEPLOY (the CodeDeployToECS action) or ECS (the ECS action)."
  type        = string
}

variable "enable_pipeline" {
  description = "The source repository or connection, the CodeBuild project, the artifact bucket and the pipeline."
  type        = bool
}

# --- source ----------------------------------------------------------------

variable "source_provider" {
  description = "CodeCommit, or GitHub, GitLab or Bitbucket through a CodeStar connection."
  type        = string
}

variable "source_repository" {
  description = "owner/name of the repository on GitHub, GitLab or Bitbucket (not used with CodeCommit)."
  type        = string
}

variable "codecommit_repository_name" {
  type = string
}

variable "source_branch" {
  type = string
}

variable "start_pipeline_on_push" {
  description = "Start the pipeline on every push to the branch; off when switchyard starts runs from its webhooks."
  type        = bool
}

variable "source_events_role_arn" {
  type = string
}

# --- build -----------------------------------------------------------------

variable "artifact_bucket_name" {
  type = string
}

variable "force_destroy" {
  description = "Destroy empties the artifact bucket first."
  type        = bool
}

variable "codebuild_project_name" {
  type = string
}

variable "codebuild_image" {
  type = string
}

variable "codebuild_compute_type" {
  type = string
}

variable "codebuild_role_arn" {
  type = string
}

variable "build_environment" {
  description = "Variables the buildspec reads to render taskdef.json and appspec.yaml (or imagedefinitions.json)."
  type        = map(string)
}

# --- deploy ----------------------------------------------------------------

variable "codedeploy_application_name" {
  type = string
}

variable "codedeploy_deployment_group_name" {
  type = string
}

variable "codedeploy_role_arn" {
  type = string
}

variable "deployment_config_name" {
  type = string
}

variable "ready_wait_minutes" {
  description = "0: reroute traffic as soon as the replacement is ready. More: hold it in Ready that long for someone to continue, then stop."
  type        = number
}

variable "termination_wait_minutes" {
  type = number
}

variable "auto_rollback" {
  type = bool
}

variable "alarm_names" {
  type = list(string)
}

variable "cluster_name" {
  type = string
}

variable "service_name" {
  type = string
}

variable "prod_listener_arn" {
  type = string
}

variable "test_listener_arn" {
  type = string
}

variable "target_group_names" {
  description = "Blue, then green."
  type        = list(string)
}

# --- pipeline --------------------------------------------------------------

variable "pipeline_name" {
  type = string
}

variable "codepipeline_role_arn" {
  type = string
}

variable "enable_approval_stage" {
  description = "A manual Approval stage between Build and Deploy."
  type        = bool
}
