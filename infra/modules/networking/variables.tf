variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's address range; split into two public and two private /20 subnets."
  type        = string
}

variable "availability_zones" {
  description = "The two availability zones the subnets span."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2
    error_message = "Give exactly two availability zones."
  }
}

variable "enable_nat_gateway" {
  description = "A NAT gateway, so tasks in the private subnets reach ECR, CloudWatch Logs and the internet."
  type        = bool
}

variable "listener_ports" {
  description = "The ports the load balancer listens on (production and test)."
  type        = list(number)
}

variable "alb_ingress_cidrs" {
  description = "Who may reach the load balancer's listeners."
  type        = list(string)
}

variable "container_port" {
  description = "The port the tasks serve on; only the load balancer may reach it."
  type        = number
}
