variable "name" {
  description = "Prefix of every role name."
  type        = string
}

variable "ecr_repository_name" {
  description = "The repository the tasks pull from and CodeBuild pushes to."
  type        = string
}

variable "log_group_name" {
  description = "The tasks' CloudWatch Logs group."
  type        = string
}

variable "task_role_policy_json" {
  description = "An IAM policy document for the task role (what the app itself may call); null gives the app no AWS permissions."
  type        = string
  default     = null
}

variable "create_codedeploy_role" {
  description = "The CodeDeploy service role (with the CodeDeploy application)."
  type        = bool
}

variable "create_ecs_infrastructure_role" {
  description = "The role ECS's own controller shifts traffic on the load balancer with."
  type        = bool
}

variable "create_pipeline_roles" {
  description = "The CodeBuild and CodePipeline roles (with the pipeline)."
  type        = bool
}

variable "create_source_events_role" {
  description = "The role EventBridge uses to start the pipeline on a CodeCommit push."
  type        = bool
}

variable "artifact_bucket_name" {
  description = "The pipeline's artifact bucket."
  type        = string
}

variable "codebuild_project_name" {
  description = "The CodeBuild project."
  type        = string
}

variable "codedeploy_application_name" {
  description = "The CodeDeploy application."
  type        = string
}

variable "codedeploy_deployment_group_name" {
  description = "The CodeDeploy deployment group."
  type        = string
}

variable "deployment_controller" {
  description = "CODE_DEPLOY or ECS: what the pipeline's Deploy action may call."
  type        = string
}

variable "cluster_name" {
  description = "The ECS cluster of the service."
  type        = string
}

variable "service_name" {
  description = "The ECS service the pipeline deploys (ECS controller)."
  type        = string
}

variable "task_family" {
  description = "The task definition family the pipeline registers revisions of."
  type        = string
}

variable "pipeline_name" {
  description = "The CodePipeline pipeline."
  type        = string
}

variable "codecommit_repository_name" {
  description = "The CodeCommit repository, when the source is CodeCommit; null otherwise."
  type        = string
  default     = null
}

variable "codestar_connection_arn" {
  description = "The CodeStar connection, when the source is GitHub, GitLab or Bitbucket; null otherwise."
  type        = string
  default     = null
}
