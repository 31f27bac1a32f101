# --- the stack -------------------------------------------------------------

variable "name" {
  description = "Names every resource: 2 to 26 lowercase letters, digits and '-', starting with a letter and not ending with '-' (target group names add -green and must fit 32)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,24}[a-z0-9]$", var.name))
    error_message = "name must be 2 to 26 lowercase letters, digits and '-', starting with a letter and not ending with '-'."
  }
}

variable "region" {
  description = "The AWS region of the stack."
  type        = string
}

variable "aws_endpoint_url" {
  description = "Send every AWS call to this endpoint instead of AWS (an emulator such as moto, for tests). Unset on AWS."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on every resource (switchyard adds switchyard:environment)."
  type        = map(string)
  default     = {}
}

# --- networking ------------------------------------------------------------

variable "vpc_cidr" {
  description = "The VPC's address range, /24 or larger (/16 recommended); split into four equal subnets."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 24
    error_message = "vpc_cidr must be an IPv4 CIDR block of /24 or larger."
  }
}

variable "availability_zones" {
  description = "The two availability zones; empty picks the region's first two."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) == 2
    error_message = "Give two availability zones, or none to use the region's first two."
  }
}

variable "enable_nat_gateway" {
  description = "A NAT gateway for the private subnets. The tasks need it (or VPC endpoints of your own) to pull images and write logs."
  type        = bool
  default     = true
}

variable "alb_ingress_cidrs" {
  description = "Who may reach the load balancer's listeners."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

# --- cluster and app -------------------------------------------------------

variable "container_insights" {
  description = "CloudWatch Container Insights on the cluster."
  type        = bool
  default     = true
}

variable "container_name" {
  description = "The container the load balancer sends traffic to (appspec.yaml names it too)."
  type        = string
  default     = "web"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.container_name))
    error_message = "container_name must be 1 to 255 letters, digits, '-' and '_'."
  }
}

variable "container_port" {
  description = "The port the container serves on."
  type        = number
  default     = 80

  validation {
    condition     = var.container_port >= 1 && var.container_port <= 65535 && floor(var.container_port) == var.container_port
    error_message = "container_port must be a port number (1-65535)."
  }
}

variable "container_image" {
  description = "The image the service runs until the pipeline deploys the first release."
  type        = string
  default     = "public.ecr.aws/nginx/nginx:stable"
}

variable "container_environment" {
  description = "Environment variables of the container. Sensitive: never shown in plans or logs."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "cpu" {
  description = "Fargate task CPU units (256 = a quarter vCPU)."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be a Fargate size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "memory" {
  description = "Fargate task memory in MiB (must suit cpu)."
  type        = number
  default     = 512
}

variable "desired_count" {
  description = "Tasks the service runs."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 1 && floor(var.desired_count) == var.desired_count
    error_message = "desired_count must be a whole number of at least 1."
  }
}

variable "health_check_path" {
  description = "The path the target groups check."
  type        = string
  default     = "/"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with '/'."
  }
}

variable "health_check_grace_period_seconds" {
  description = "How long ECS ignores failing load balancer health checks of a new task."
  type        = number
  default     = 60
}

variable "prod_listener_port" {
  description = "The production listener's port."
  type        = number
  default     = 80
}

variable "test_listener_port" {
  description = "The test listener's port: the replacement task set answers here before it takes production traffic."
  type        = number
  default     = 8080
}

variable "log_retention_days" {
  description = "How long the tasks' logs are kept."
  type        = number
  default     = 30
}

variable "alarm_5xx_threshold" {
  description = "Target 5xx responses in a minute that roll a deployment back."
  type        = number
  default     = 5
}

variable "alarm_unhealthy_hosts_threshold" {
  description = "Unhealthy targets in a target group (two minutes running) that roll a deployment back."
  type        = number
  default     = 1
}

variable "task_role_policy_json" {
  description = "An IAM policy document for what the app may call on AWS; null gives it nothing."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Destroy also deletes the images in ECR and the pipeline's artifacts. Off: destroy stops at a non-empty repository or bucket."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "The load balancer refuses deletion until this is turned off."
  type        = bool
  default     = false
}

# --- deployment controller -------------------------------------------------

variable "deployment_controller" {
  description = "Who deploys the service: CODE_DEPLOY (a CodeDeploy blue/green deployment group) or ECS (ECS's own blue/green, linear and canary deployments, whose settings switchyard applies with UpdateService). Changing it replaces the service."
  type        = string
  default     = "CODE_DEPLOY"

  validation {
    condition     = contains(["CODE_DEPLOY", "ECS"], var.deployment_controller)
    error_message = "deployment_controller must be CODE_DEPLOY or ECS."
  }
}

# --- CodeDeploy ------------------------------------------------------------

variable "enable_codedeploy" {
  description = "The CodeDeploy application and blue/green deployment group (and its role), with the CODE_DEPLOY controller. switchyard needs them on AWS; off only where the API cannot delete them (moto 5.2.5, see README)."
  type        = bool
  default     = true
}

variable "deployment_config_name" {
  description = "How traffic shifts: CodeDeployDefault.ECSAllAtOnce, ECSLinear10PercentEvery1Minutes, ECSCanary10Percent5Minutes, ... or a custom config."
  type        = string
  default     = "CodeDeployDefault.ECSAllAtOnce"

  validation {
    condition     = length(var.deployment_config_name) >= 1 && length(var.deployment_config_name) <= 100
    error_message = "deployment_config_name must be 1 to 100 characters."
  }
}

variable "ready_wait_minutes" {
  description = "0 reroutes traffic as soon as the replacement is ready; more holds each deployment in Ready that long for someone to continue (then it stops)."
  type        = number
  default     = 0

  validation {
    condition     = var.ready_wait_minutes >= 0 && var.ready_wait_minutes <= 2880
    error_message = "ready_wait_minutes must be between 0 and 2880."
  }
}

variable "termination_wait_minutes" {
  description = "How long the original task set keeps running after traffic moved (the window for a quick rollback)."
  type        = number
  default     = 5

  validation {
    condition     = var.termination_wait_minutes >= 0 && var.termination_wait_minutes <= 2880
    error_message = "termination_wait_minutes must be between 0 and 2880."
  }
}

variable "auto_rollback" {
  description = "Roll back automatically when a deployment fails or an alarm fires."
  type        = bool
  default     = true
}

# --- pipeline --------------------------------------------------------------

variable "enable_pipeline" {
  description = "The source repository or connection, CodeBuild project, artifact bucket and CodePipeline. Off when releases are deployed only through switchyard's API, or where the API cannot make them (moto 5.2.5, see README)."
  type        = bool
  default     = true
}

variable "source_provider" {
  description = "Where the pipeline's source comes from: CodeCommit, or GitHub, GitLab or Bitbucket through a CodeStar connection."
  type        = string
  default     = "CodeCommit"

  validation {
    condition     = contains(["CodeCommit", "GitHub", "GitLab", "Bitbucket"], var.source_provider)
    error_message = "source_provider must be CodeCommit, GitHub, GitLab or Bitbucket."
  }
}

variable "source_repository" {
  description = "owner/name of the repository on GitHub, GitLab or Bitbucket; with CodeCommit, the repository's name (default: the stack's name)."
  type        = string
  default     = ""
}

variable "source_branch" {
  description = "The branch the pipeline builds."
  type        = string
  default     = "main"
}

variable "start_pipeline_on_push" {
  description = "Start the pipeline on every push. Off by default: switchyard starts runs from its git webhooks."
  type        = bool
  default     = false
}

variable "enable_approval_stage" {
  description = "A manual Approval stage between Build and Deploy (approved through switchyard)."
  type        = bool
  default     = true
}

variable "codebuild_image" {
  description = "The CodeBuild build image."
  type        = string
  default     = "aws/codebuild/standard:7.0"
}

variable "codebuild_compute_type" {
  description = "The CodeBuild machine size."
  type        = string
  default     = "BUILD_GENERAL1_SMALL"
}
