variable "name" {
  description = "The cluster's name."
  type        = string
}

variable "container_insights" {
  description = "CloudWatch Container Insights metrics for the cluster."
  type        = bool
}
