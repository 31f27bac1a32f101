# What switchyard reads after an apply (see crates/core/src/provision/terraform/plan.rs);
# names are null for the parts a variable turned off.

output "cluster_name" {
  value = module.ecs.cluster_name
}

output "cluster_arn" {
  value = module.ecs.cluster_arn
}

output "service_name" {
  value = module.app_infra.service_name
}

output "task_definition_family" {
  value = module.app_infra.task_definition_family
}

output "container_name" {
  value = var.container_name
}

output "container_port" {
  value = var.container_port
}

output "codedeploy_application_name" {
  value = module.pipeline.codedeploy_application_name
}

output "codedeploy_deployment_group_name" {
  value = module.pipeline.codedeploy_deployment_group_name
}

output "pipeline_name" {
  value = module.pipeline.pipeline_name
}

output "prod_listener_arn" {
  value = module.app_infra.prod_listener_arn
}

output "test_listener_arn" {
  value = module.app_infra.test_listener_arn
}

output "target_group_names" {
  description = "Blue, then green."
  value       = module.app_infra.target_group_names
}

output "target_group_arns" {
  description = "Blue, then green."
  value       = module.app_infra.target_group_arns
}

# ECS's own controller: the service's load balancer advancedConfiguration,
# which switchyard sends with UpdateService (provider 5.x cannot set it).
# Empty strings under CODE_DEPLOY.

output "prod_listener_rule_arn" {
  value = module.app_infra.prod_listener_rule_arn
}

output "test_listener_rule_arn" {
  value = module.app_infra.test_listener_rule_arn
}

output "alternate_target_group_arn" {
  value = module.app_infra.alternate_target_group_arn
}

output "ecs_infrastructure_role_arn" {
  description = "The role ECS shifts traffic on the listener rules with."
  value       = local.ecs_controller ? module.security.ecs_infrastructure_role_arn : ""
}

output "alb_dns_name" {
  value = module.app_infra.alb_dns_name
}

output "prod_url" {
  value = var.prod_listener_port == 80 ? "http://${module.app_infra.alb_dns_name}" : "http://${module.app_infra.alb_dns_name}:${var.prod_listener_port}"
}

output "test_url" {
  value = "http://${module.app_infra.alb_dns_name}:${var.test_listener_port}"
}

output "ecr_repository_url" {
  value = module.app_infra.ecr_repository_url
}

output "log_group_name" {
  value = module.app_infra.log_group_name
}

output "artifact_bucket" {
  value = module.pipeline.artifact_bucket
}

output "codebuild_project_name" {
  value = module.pipeline.codebuild_project_name
}

output "codecommit_clone_url_http" {
  value = module.pipeline.codecommit_clone_url_http
}

output "codestar_connection_arn" {
  value = module.pipeline.codestar_connection_arn
}

output "codestar_connection_status" {
  description = "PENDING until the handshake with the provider is completed in the AWS console."
  value       = module.pipeline.codestar_connection_status
}

output "vpc_id" {
  value = module.networking.vpc_id
}

# The CloudWatch alarms that stop a deployment, and the load balancer whose
# metrics they watch: switchyard shows their states and series on a
# deployment's page.
output "alarm_names" {
  value = module.app_infra.alarm_names
}

output "load_balancer_arn" {
  value = module.app_infra.alb_arn
}
