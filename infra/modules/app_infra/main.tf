# What the app runs on: the load balancer with a production and a test
# listener, the blue and green target groups the deployment controller
# shifts traffic between (CodeDeploy on the listeners; ECS on a rule of
# each listener), the image repository, logs, the task definition, the ECS
# service, and the alarms that roll a deployment back.

data "aws_region" "current" {}

locals {
  ecs_controller = var.deployment_controller == "ECS"

  target_groups = {
    blue  = "${var.name}-blue"
    green = "${var.name}-green"
  }
}

resource "aws_ecr_repository" "app" {
  name                 = var.ecr_repository_name
  image_tag_mutability = "MUTABLE"
  force_delete         = var.force_destroy

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the newest 50 images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 50
      }
      action = { type = "expire" }
    }]
  })
}

resource "aws_cloudwatch_log_group" "app" {
  name              = var.log_group_name
  retention_in_days = var.log_retention_days
}

resource "aws_lb" "this" {
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [var.alb_security_group_id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
}

resource "aws_lb_target_group" "app" {
  for_each = local.target_groups

  name                 = each.value
  vpc_id               = var.vpc_id
  target_type          = "ip"
  protocol             = "HTTP"
  port                 = var.container_port
  deregistration_delay = 30

  health_check {
    path                = var.health_check_path
    matcher             = "200-399"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

# Both listeners start on blue. CodeDeploy points them at the replacement
# target group during a deployment and leaves production there afterwards,
# so Terraform must not move them back.
resource "aws_lb_listener" "prod" {
  load_balancer_arn = aws_lb.this.arn
  port              = var.prod_listener_port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app["blue"].arn
  }

  lifecycle {
    ignore_changes = [default_action]
  }
}

resource "aws_lb_listener" "test" {
  load_balancer_arn = aws_lb.this.arn
  port              = var.test_listener_port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app["blue"].arn
  }

  lifecycle {
    ignore_changes = [default_action]
  }
}

# ECS's own controller shifts traffic by rewriting the weighted forward of
# one rule per listener (advancedConfiguration names them); these catch
# every request and start on blue, as the listeners' default actions do.
resource "aws_lb_listener_rule" "prod" {
  count = local.ecs_controller ? 1 : 0

  listener_arn = aws_lb_listener.prod.arn
  priority     = 1

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app["blue"].arn
  }

  condition {
    path_pattern {
      values = ["/*"]
    }
  }

  lifecycle {
    ignore_changes = [action]
  }
}

resource "aws_lb_listener_rule" "test" {
  count = local.ecs_controller ? 1 : 0

  listener_arn = aws_lb_listener.test.arn
  priority     = 1

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app["blue"].arn
  }

  condition {
    path_pattern {
      values = ["/*"]
    }
  }

  lifecycle {
    ignore_changes = [action]
  }
}

resource "aws_ecs_task_definition" "app" {
  family                   = var.task_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = var.task_execution_role_arn
  task_role_arn            = var.task_role_arn

  container_definitions = jsonencode([{
    name      = var.container_name
    image     = var.container_image
    essential = true
    portMappings = [{
      containerPort = var.container_port
      protocol      = "tcp"
    }]
    environment = [
      for key in sort(keys(var.container_environment)) : { name = key, value = var.container_environment[key] }
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.app.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = var.container_name
      }
    }
  }])
}

# The deployment controller owns the service's task definition and load
# balancer wiring after the first deployment; Terraform made them and
# leaves them alone. Under ECS, switchyard also owns the deployment
# configuration (strategy, bake time, hooks: provider 5.x cannot express
# them), and the provider would send one without them on any change to the
# deployment attributes it knows, so it ignores those too.
resource "aws_ecs_service" "app" {
  name                              = var.service_name
  cluster                           = var.cluster_arn
  task_definition                   = aws_ecs_task_definition.app.arn
  desired_count                     = var.desired_count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = var.health_check_grace_period_seconds
  propagate_tags                    = "SERVICE"

  deployment_controller {
    type = var.deployment_controller
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [var.tasks_security_group_id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.app["blue"].arn
    container_name   = var.container_name
    container_port   = var.container_port
  }

  lifecycle {
    ignore_changes = [
      task_definition,
      load_balancer,
      deployment_maximum_percent,
      deployment_minimum_healthy_percent,
      deployment_circuit_breaker,
      alarms,
    ]
  }

  # A target group takes a service only once a listener forwards to it.
  depends_on = [aws_lb_listener.prod, aws_lb_listener.test, aws_lb_listener_rule.prod, aws_lb_listener_rule.test]
}

resource "aws_cloudwatch_metric_alarm" "target_5xx" {
  alarm_name          = "${var.name}-target-5xx"
  alarm_description   = "The app of ${var.name} answers 5xx; rolls a deployment back"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = var.alarm_5xx_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"

  dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
  }
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  for_each = local.target_groups

  alarm_name          = "${each.value}-unhealthy-hosts"
  alarm_description   = "Targets of ${each.value} fail their health check; rolls a deployment back"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = var.alarm_unhealthy_hosts_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"

  dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = aws_lb_target_group.app[each.key].arn_suffix
  }
}
