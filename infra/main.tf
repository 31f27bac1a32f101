# One switchyard stack on AWS: an app behind a load balancer on ECS Fargate,
# deployed blue/green through CodePipeline by CodeDeploy or by ECS's own
# controller (`deployment_controller`).

provider "aws" {
  region = var.region

  # An endpoint override sends every call to one emulator (switchyard's
  # tests use moto): no credentials check, path-style S3, few retries
  # (an emulator answers what it lacks with a 500). Unset on AWS.
  skip_credentials_validation = var.aws_endpoint_url != null
  skip_metadata_api_check     = var.aws_endpoint_url != null ? "true" : null
  s3_use_path_style           = var.aws_endpoint_url != null
  max_retries                 = var.aws_endpoint_url != null ? 2 : null

  dynamic "endpoints" {
    for_each = var.aws_endpoint_url == null ? [] : [var.aws_endpoint_url]

    content {
      cloudwatch          = endpoints.value
      cloudwatchevents    = endpoints.value
      cloudwatchlogs      = endpoints.value
      codebuild           = endpoints.value
      codecommit          = endpoints.value
      codedeploy          = endpoints.value
      codepipeline        = endpoints.value
      codestarconnections = endpoints.value
      ec2                 = endpoints.value
      ecr                 = endpoints.value
      ecs                 = endpoints.value
      elbv2               = endpoints.value
      iam                 = endpoints.value
      s3                  = endpoints.value
      sts                 = endpoints.value
    }
  }

  default_tags {
    tags = merge(var.tags, { "switchyard:stack" = var.name })
  }
}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_caller_identity" "current" {}

locals {
  availability_zones = length(var.availability_zones) == 2 ? var.availability_zones : slice(data.aws_availability_zones.available.names, 0, 2)

  # Every name is fixed here, so the IAM policies can name the resources
  # they grant access to before those exist.
  cluster_name                     = var.name
  service_name                     = var.name
  task_family                      = var.name
  ecr_repository_name              = var.name
  log_group_name                   = "/ecs/${var.name}"
  codedeploy_application_name      = var.name
  codedeploy_deployment_group_name = "${var.name}-dg"
  codebuild_project_name           = "${var.name}-build"
  pipeline_name                    = "${var.name}-pipeline"
  codecommit_repository_name       = var.source_repository != "" && var.source_provider == "CodeCommit" ? var.source_repository : var.name
  artifact_bucket_name             = "${var.name}-artifacts-${data.aws_caller_identity.current.account_id}"

  # ECS's own controller needs no CodeDeploy resources.
  ecs_controller = var.deployment_controller == "ECS"
  codedeploy     = var.enable_codedeploy && !local.ecs_controller
}

module "networking" {
  source = "./modules/networking"

  name               = var.name
  vpc_cidr           = var.vpc_cidr
  availability_zones = local.availability_zones
  enable_nat_gateway = var.enable_nat_gateway
  listener_ports     = [var.prod_listener_port, var.test_listener_port]
  alb_ingress_cidrs  = var.alb_ingress_cidrs
  container_port     = var.container_port
}

module "security" {
  source = "./modules/security"

  name                             = var.name
  ecr_repository_name              = local.ecr_repository_name
  log_group_name                   = local.log_group_name
  task_role_policy_json            = var.task_role_policy_json
  create_codedeploy_role           = local.codedeploy
  create_ecs_infrastructure_role   = local.ecs_controller
  create_pipeline_roles            = var.enable_pipeline
  create_source_events_role        = var.enable_pipeline && var.start_pipeline_on_push && var.source_provider == "CodeCommit"
  artifact_bucket_name             = local.artifact_bucket_name
  codebuild_project_name           = local.codebuild_project_name
  codedeploy_application_name      = local.codedeploy_application_name
  codedeploy_deployment_group_name = local.codedeploy_deployment_group_name
  pipeline_name                    = local.pipeline_name
  deployment_controller            = var.deployment_controller
  cluster_name                     = local.cluster_name
  service_name                     = local.service_name
  task_family                      = local.task_family
  codecommit_repository_name       = var.source_provider == "CodeCommit" ? local.codecommit_repository_name : null
  codestar_connection_arn          = module.pipeline.codestar_connection_arn
}

module "ecs" {
  source = "./modules/ecs"

  name               = local.cluster_name
  container_insights = var.container_insights
}

module "app_infra" {
  source = "./modules/app_infra"

  name                              = var.name
  vpc_id                            = module.networking.vpc_id
  public_subnet_ids                 = module.networking.public_subnet_ids
  private_subnet_ids                = module.networking.private_subnet_ids
  alb_security_group_id             = module.networking.alb_security_group_id
  tasks_security_group_id           = module.networking.tasks_security_group_id
  cluster_arn                       = module.ecs.cluster_arn
  service_name                      = local.service_name
  deployment_controller             = var.deployment_controller
  task_family                       = local.task_family
  task_execution_role_arn           = module.security.task_execution_role_arn
  task_role_arn                     = module.security.task_role_arn
  ecr_repository_name               = local.ecr_repository_name
  log_group_name                    = local.log_group_name
  log_retention_days                = var.log_retention_days
  container_name                    = var.container_name
  container_port                    = var.container_port
  container_image                   = var.container_image
  container_environment             = var.container_environment
  cpu                               = var.cpu
  memory                            = var.memory
  desired_count                     = var.desired_count
  health_check_path                 = var.health_check_path
  health_check_grace_period_seconds = var.health_check_grace_period_seconds
  prod_listener_port                = var.prod_listener_port
  test_listener_port                = var.test_listener_port
  alarm_5xx_threshold               = var.alarm_5xx_threshold
  alarm_unhealthy_hosts_threshold   = var.alarm_unhealthy_hosts_threshold
  force_destroy                     = var.force_destroy
  deletion_protection               = var.deletion_protection
}

module "pipeline" {
  source = "./modules/pipeline"

  name                  = var.name
  deployment_controller = var.deployment_controller
  enable_codedeploy     = local.codedeploy
  enable_pipeline       = var.enable_pipeline

  source_provider            = var.source_provider
  source_repository          = var.source_repository
  codecommit_repository_name = local.codecommit_repository_name
  source_branch              = var.source_branch
  start_pipeline_on_push     = var.start_pipeline_on_push
  source_events_role_arn     = module.security.source_events_role_arn

  artifact_bucket_name   = local.artifact_bucket_name
  force_destroy          = var.force_destroy
  codebuild_project_name = local.codebuild_project_name
  codebuild_image        = var.codebuild_image
  codebuild_compute_type = var.codebuild_compute_type
  codebuild_role_arn     = module.security.codebuild_role_arn
  build_environment = {
    AWS_ACCOUNT_ID          = data.aws_caller_identity.current.account_id
    REPOSITORY_URI          = module.app_infra.ecr_repository_url
    CONTAINER_NAME          = var.container_name
    CONTAINER_PORT          = tostring(var.container_port)
    TASK_FAMILY             = local.task_family
    TASK_CPU                = tostring(var.cpu)
    TASK_MEMORY             = tostring(var.memory)
    TASK_EXECUTION_ROLE_ARN = module.security.task_execution_role_arn
    TASK_ROLE_ARN           = module.security.task_role_arn
    LOG_GROUP               = local.log_group_name
  }

  codedeploy_application_name      = local.codedeploy_application_name
  codedeploy_deployment_group_name = local.codedeploy_deployment_group_name
  codedeploy_role_arn              = module.security.codedeploy_role_arn
  deployment_config_name           = var.deployment_config_name
  ready_wait_minutes               = var.ready_wait_minutes
  termination_wait_minutes         = var.termination_wait_minutes
  auto_rollback                    = var.auto_rollback
  alarm_names                      = module.app_infra.alarm_names
  cluster_name                     = module.ecs.cluster_name
  service_name                     = module.app_infra.service_name
  prod_listener_arn                = module.app_infra.prod_listener_arn
  test_listener_arn                = module.app_infra.test_listener_arn
  target_group_names               = module.app_infra.target_group_names

  pipeline_name         = local.pipeline_name
  codepipeline_role_arn = module.security.codepipeline_role_arn
  enable_approval_stage = var.enable_approval_stage
}
