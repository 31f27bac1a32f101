variable "name" {
  description = "Prefix of every resource name; the load balancer's own name (at most 26 characters, so target group names fit 32)."
  type        = string
}

variable "vpc_id" {
  type = string
}

variable "public_subnet_ids" {
  description = "Where the load balancer lives."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Where the tasks run."
  type        = list(string)
}

variable "alb_security_group_id" {
  type = string
}

variable "tasks_security_group_id" {
  type = string
}

variable "cluster_arn" {
  type = string
}

variable "service_name" {
  type = string
}

variable "deployment_controller" {
  description = "CODE_DEPLOY or ECS: ECS adds the listener rules its deployments shift traffic on."
  type        = string
}

variable "task_family" {
  type = string
}

variable "task_execution_role_arn" {
  type = string
}

variable "task_role_arn" {
  type = string
}

variable "ecr_repository_name" {
  type = string
}

variable "log_group_name" {
  type = string
}

variable "log_retention_days" {
  type = number
}

variable "container_name" {
  type = string
}

variable "container_port" {
  type = number
}

variable "container_image" {
  description = "The image the service runs until the pipeline deploys the first release."
  type        = string
}

variable "container_environment" {
  description = "Environment variables of the container."
  type        = map(string)
  sensitive   = true
}

variable "cpu" {
  type = number
}

variable "memory" {
  type = number
}

variable "desired_count" {
  type = number
}

variable "health_check_path" {
  type = string
}

variable "health_check_grace_period_seconds" {
  type = number
}

variable "prod_listener_port" {
  type = number
}

variable "test_listener_port" {
  type = number
}

variable "alarm_5xx_threshold" {
  description = "Target 5xx responses in one minute that raise the alarm (and roll a deployment back)."
  type        = number
}

variable "alarm_unhealthy_hosts_threshold" {
  description = "Unhealthy targets in a target group, two minutes running, that raise the alarm."
  type        = number
}

variable "force_destroy" {
  description = "Destroy deletes the ECR repository even when it holds images."
  type        = bool
}

variable "deletion_protection" {
  description = "The load balancer refuses deletion."
  type        = bool
}
