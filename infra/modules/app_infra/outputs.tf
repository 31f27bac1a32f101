output "alb_dns_name" {
  value = aws_lb.this.dns_name
}

output "alb_arn" {
  value = aws_lb.this.arn
}

output "prod_listener_arn" {
  value = aws_lb_listener.prod.arn
}

output "test_listener_arn" {
  value = aws_lb_listener.test.arn
}

output "target_group_names" {
  description = "Blue, then green."
  value       = [aws_lb_target_group.app["blue"].name, aws_lb_target_group.app["green"].name]
}

output "target_group_arns" {
  description = "Blue, then green."
  value       = [aws_lb_target_group.app["blue"].arn, aws_lb_target_group.app["green"].arn]
}

output "ecr_repository_name" {
  value = aws_ecr_repository.app.name
}

output "ecr_repository_url" {
  value = aws_ecr_repository.app.repository_url
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.app.name
}

output "task_definition_family" {
  value = aws_ecs_task_definition.app.family
}

output "task_definition_arn" {
  value = aws_ecs_task_definition.app.arn
}

output "service_name" {
  value = aws_ecs_service.app.name
}

output "alarm_names" {
  description = "The alarms that roll a deployment back."
  value = concat(
    [aws_cloudwatch_metric_alarm.target_5xx.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.unhealthy_hosts : alarm.alarm_name],
  )
}

# What ECS's own controller needs for the service's advancedConfiguration
# (switchyard sends it with UpdateService); empty under CODE_DEPLOY.

output "prod_listener_rule_arn" {
  value = local.ecs_controller ? aws_lb_listener_rule.prod[0].arn : ""
}

output "test_listener_rule_arn" {
  value = local.ecs_controller ? aws_lb_listener_rule.test[0].arn : ""
}

output "alternate_target_group_arn" {
  description = "Green: the target group a new revision starts on."
  value       = local.ecs_controller ? aws_lb_target_group.app["green"].arn : ""
}
