# IAM roles of one stack, each with only what its service needs. Resource
# ARNs are built from the names the root module chooses, so the roles can be
# made before (and independently of) the resources they grant access to.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  arn       = "${local.partition}:%s:${local.region}:${local.account}"

  ecr_repository_arn   = "arn:${format(local.arn, "ecr")}:repository/${var.ecr_repository_name}"
  log_group_arn        = "arn:${format(local.arn, "logs")}:log-group:${var.log_group_name}"
  artifact_bucket_arn  = "arn:${local.partition}:s3:::${var.artifact_bucket_name}"
  codebuild_logs_arn   = "arn:${format(local.arn, "logs")}:log-group:/aws/codebuild/${var.codebuild_project_name}"
  codebuild_arn        = "arn:${format(local.arn, "codebuild")}:project/${var.codebuild_project_name}"
  codecommit_arn       = var.codecommit_repository_name == null ? null : "arn:${format(local.arn, "codecommit")}:${var.codecommit_repository_name}"
  codedeploy_app_arn   = "arn:${format(local.arn, "codedeploy")}:application:${var.codedeploy_application_name}"
  codedeploy_group_arn = "arn:${format(local.arn, "codedeploy")}:deploymentgroup:${var.codedeploy_application_name}/${var.codedeploy_deployment_group_name}"
  codedeploy_configs   = "arn:${format(local.arn, "codedeploy")}:deploymentconfig:*"
  pipeline_arn         = "arn:${format(local.arn, "codepipeline")}:${var.pipeline_name}"
  ecs_service_arn      = "arn:${format(local.arn, "ecs")}:service/${var.cluster_name}/${var.service_name}"
  task_definitions_arn = "arn:${format(local.arn, "ecs")}:task-definition/${var.task_family}:*"

  ecs_controller = var.deployment_controller == "ECS"
}

# Trust policies: each role may be assumed by its one service only.
data "aws_iam_policy_document" "trust" {
  for_each = toset(["ecs-tasks", "ecs", "codebuild", "codedeploy", "codepipeline", "events"])

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["${each.key}.amazonaws.com"]
    }
  }
}

# --- ECS tasks -------------------------------------------------------------

resource "aws_iam_role" "task_execution" {
  name               = "${var.name}-task-execution"
  description        = "ECS pulls the image and writes the logs of ${var.name}'s tasks"
  assume_role_policy = data.aws_iam_policy_document.trust["ecs-tasks"].json
}

data "aws_iam_policy_document" "task_execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid = "PullImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [local.ecr_repository_arn]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }
}

resource "aws_iam_role_policy" "task_execution" {
  name   = "pull-image-and-write-logs"
  role   = aws_iam_role.task_execution.id
  policy = data.aws_iam_policy_document.task_execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "What ${var.name}'s app may call on AWS"
  assume_role_policy = data.aws_iam_policy_document.trust["ecs-tasks"].json
}

resource "aws_iam_role_policy" "task" {
  count = var.task_role_policy_json == null ? 0 : 1

  name   = "app"
  role   = aws_iam_role.task.id
  policy = var.task_role_policy_json
}

# --- CodeDeploy ------------------------------------------------------------

resource "aws_iam_role" "codedeploy" {
  count = var.create_codedeploy_role ? 1 : 0

  name               = "${var.name}-codedeploy"
  description        = "CodeDeploy shifts ${var.name}'s traffic between task sets"
  assume_role_policy = data.aws_iam_policy_document.trust["codedeploy"].json
}

resource "aws_iam_role_policy_attachment" "codedeploy" {
  count = var.create_codedeploy_role ? 1 : 0

  role       = aws_iam_role.codedeploy[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSCodeDeployRoleForECS"
}

# --- ECS infrastructure (ECS's own controller) ------------------------------

resource "aws_iam_role" "ecs_infrastructure" {
  count = var.create_ecs_infrastructure_role ? 1 : 0

  name               = "${var.name}-ecs-infrastructure"
  description        = "ECS shifts ${var.name}'s traffic between target groups on the listener rules"
  assume_role_policy = data.aws_iam_policy_document.trust["ecs"].json
}

resource "aws_iam_role_policy_attachment" "ecs_infrastructure" {
  count = var.create_ecs_infrastructure_role ? 1 : 0

  role       = aws_iam_role.ecs_infrastructure[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
}

# --- CodeBuild -------------------------------------------------------------

resource "aws_iam_role" "codebuild" {
  count = var.create_pipeline_roles ? 1 : 0

  name               = "${var.name}-codebuild"
  description        = "CodeBuild builds ${var.name}'s image and pushes it to ECR"
  assume_role_policy = data.aws_iam_policy_document.trust["codebuild"].json
}

data "aws_iam_policy_document" "codebuild" {
  statement {
    sid       = "BuildLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.codebuild_logs_arn, "${local.codebuild_logs_arn}:*"]
  }
  statement {
    sid       = "Artifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${local.artifact_bucket_arn}/*"]
  }
  statement {
    sid       = "ArtifactBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    resources = [local.artifact_bucket_arn]
  }
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid = "PushImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [local.ecr_repository_arn]
  }
}

resource "aws_iam_role_policy" "codebuild" {
  count = var.create_pipeline_roles ? 1 : 0

  name   = "build-and-push"
  role   = aws_iam_role.codebuild[0].id
  policy = data.aws_iam_policy_document.codebuild.json
}

# --- CodePipeline ----------------------------------------------------------

resource "aws_iam_role" "codepipeline" {
  count = var.create_pipeline_roles ? 1 : 0

  name               = "${var.name}-codepipeline"
  description        = "CodePipeline runs ${var.name}'s source, build, approval and deploy stages"
  assume_role_policy = data.aws_iam_policy_document.trust["codepipeline"].json
}

data "aws_iam_policy_document" "codepipeline" {
  statement {
    sid       = "Artifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl"]
    resources = ["${local.artifact_bucket_arn}/*"]
  }
  statement {
    sid       = "ArtifactBucket"
    actions   = ["s3:GetBucketVersioning", "s3:GetBucketLocation", "s3:ListBucket"]
    resources = [local.artifact_bucket_arn]
  }

  dynamic "statement" {
    for_each = local.codecommit_arn == null ? [] : [local.codecommit_arn]
    content {
      sid = "SourceCodeCommit"
      actions = [
        "codecommit:CancelUploadArchive",
        "codecommit:GetBranch",
        "codecommit:GetCommit",
        "codecommit:GetUploadArchiveStatus",
        "codecommit:UploadArchive",
      ]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.codestar_connection_arn == null ? [] : [var.codestar_connection_arn]
    content {
      sid       = "SourceConnection"
      actions   = ["codestar-connections:UseConnection"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "Build"
    actions   = ["codebuild:BatchGetBuilds", "codebuild:StartBuild"]
    resources = [local.codebuild_arn]
  }
  dynamic "statement" {
    for_each = local.ecs_controller ? [] : ["CodeDeployToECS"]
    content {
      sid = "Deploy"
      actions = [
        "codedeploy:CreateDeployment",
        "codedeploy:GetApplication",
        "codedeploy:GetApplicationRevision",
        "codedeploy:GetDeployment",
        "codedeploy:GetDeploymentConfig",
        "codedeploy:RegisterApplicationRevision",
      ]
      resources = [local.codedeploy_app_arn, local.codedeploy_group_arn, local.codedeploy_configs]
    }
  }

  # The ECS deploy action registers a revision of the service's task
  # definition with the new image and updates the service to it.
  dynamic "statement" {
    for_each = local.ecs_controller ? ["ECS"] : []
    content {
      sid       = "DeployService"
      actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
      resources = [local.ecs_service_arn]
    }
  }

  dynamic "statement" {
    for_each = local.ecs_controller ? ["ECS"] : []
    content {
      # Registering a tagged task definition needs TagResource too.
      sid       = "TagTaskDefinitions"
      actions   = ["ecs:TagResource"]
      resources = [local.task_definitions_arn]
      condition {
        test     = "StringEquals"
        variable = "ecs:CreateAction"
        values   = ["RegisterTaskDefinition"]
      }
    }
  }
  statement {
    # RegisterTaskDefinition and DescribeTaskDefinition take no resource ARN.
    sid       = "TaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
    resources = ["*"]
  }
  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task_execution.arn, aws_iam_role.task.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "codepipeline" {
  count = var.create_pipeline_roles ? 1 : 0

  name   = "run-stages"
  role   = aws_iam_role.codepipeline[0].id
  policy = data.aws_iam_policy_document.codepipeline.json
}

# --- EventBridge (start the pipeline on a CodeCommit push) ------------------

resource "aws_iam_role" "source_events" {
  count = var.create_source_events_role ? 1 : 0

  name               = "${var.name}-source-events"
  description        = "EventBridge starts ${var.name}'s pipeline on a push"
  assume_role_policy = data.aws_iam_policy_document.trust["events"].json
}

data "aws_iam_policy_document" "source_events" {
  statement {
    actions   = ["codepipeline:StartPipelineExecution"]
    resources = [local.pipeline_arn]
  }
}

resource "aws_iam_role_policy" "source_events" {
  count = var.create_source_events_role ? 1 : 0

  name   = "start-pipeline"
  role   = aws_iam_role.source_events[0].id
  policy = data.aws_iam_policy_document.source_events.json
}
