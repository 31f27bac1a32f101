# Delivery of one stack: where the source comes from, the build that makes
# the image and the deployment artifacts, the CodeDeploy blue/green
# deployment group that shifts traffic (CODE_DEPLOY controller), and the
# pipeline tying them together (Source, Build, an optional Approval, Deploy:
# CodeDeployToECS, or ECS for ECS's own controller).

locals {
  codecommit  = var.enable_pipeline && var.source_provider == "CodeCommit"
  connection  = var.enable_pipeline && var.source_provider != "CodeCommit"
  approve     = var.enable_pipeline && var.enable_approval_stage
  push_events = local.codecommit && var.start_pipeline_on_push

  ecs_controller = var.deployment_controller == "ECS"
}

# --- source ----------------------------------------------------------------

resource "aws_codecommit_repository" "app" {
  count = local.codecommit ? 1 : 0

  repository_name = var.codecommit_repository_name
  description     = "Source of ${var.name}"
  default_branch  = var.source_branch
}

# A new connection is PENDING until someone completes the handshake with the
# provider in the AWS console (Developer Tools > Settings > Connections).
resource "aws_codestarconnections_connection" "app" {
  count = local.connection ? 1 : 0

  name          = "${var.name}-source"
  provider_type = var.source_provider
}

resource "aws_cloudwatch_event_rule" "push" {
  count = local.push_events ? 1 : 0

  name        = "${var.name}-push"
  description = "A push to ${var.source_branch} of ${var.codecommit_repository_name} starts ${var.pipeline_name}"
  event_pattern = jsonencode({
    source      = ["aws.codecommit"]
    detail-type = ["CodeCommit Repository State Change"]
    resources   = [aws_codecommit_repository.app[0].arn]
    detail = {
      event         = ["referenceCreated", "referenceUpdated"]
      referenceType = ["branch"]
      referenceName = [var.source_branch]
    }
  })
}

resource "aws_cloudwatch_event_target" "push" {
  count = local.push_events ? 1 : 0

  rule     = aws_cloudwatch_event_rule.push[0].name
  arn      = aws_codepipeline.app[0].arn
  role_arn = var.source_events_role_arn
}

# --- artifacts -------------------------------------------------------------

resource "aws_s3_bucket" "artifacts" {
  count = var.enable_pipeline ? 1 : 0

  bucket        = var.artifact_bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_versioning" "artifacts" {
  count = var.enable_pipeline ? 1 : 0

  bucket = aws_s3_bucket.artifacts[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  count = var.enable_pipeline ? 1 : 0

  bucket = aws_s3_bucket.artifacts[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  count = var.enable_pipeline ? 1 : 0

  bucket                  = aws_s3_bucket.artifacts[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  count = var.enable_pipeline ? 1 : 0

  bucket = aws_s3_bucket.artifacts[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "artifacts_tls_only" {
  count = var.enable_pipeline ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.artifacts[0].arn, "${aws_s3_bucket.artifacts[0].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  count = var.enable_pipeline ? 1 : 0

  bucket = aws_s3_bucket.artifacts[0].id
  policy = data.aws_iam_policy_document.artifacts_tls_only[0].json

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

# --- build -----------------------------------------------------------------

resource "aws_codebuild_project" "app" {
  count = var.enable_pipeline ? 1 : 0

  name          = var.codebuild_project_name
  description   = local.ecs_controller ? "Builds ${var.name}'s image, pushes it to ECR and writes imagedefinitions.json" : "Builds ${var.name}'s image, pushes it to ECR and writes taskdef.json and appspec.yaml"
  service_role  = var.codebuild_role_arn
  build_timeout = 30

  source {
    type      = "CODEPIPELINE"
    buildspec = "buildspec.yml"
  }

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    type            = "LINUX_CONTAINER"
    compute_type    = var.codebuild_compute_type
    image           = var.codebuild_image
    privileged_mode = true # docker build

    dynamic "environment_variable" {
      for_each = var.build_environment
      content {
        name  = environment_variable.key
        value = environment_variable.value
      }
    }
  }

  logs_config {
    cloudwatch_logs {
      group_name = "/aws/codebuild/${var.codebuild_project_name}"
    }
  }
}

# --- deploy ----------------------------------------------------------------

resource "aws_codedeploy_app" "app" {
  count = var.enable_codedeploy ? 1 : 0

  name             = var.codedeploy_application_name
  compute_platform = "ECS"
}

resource "aws_codedeploy_deployment_group" "app" {
  count = var.enable_codedeploy ? 1 : 0

  app_name               = aws_codedeploy_app.app[0].name
  deployment_group_name  = var.codedeploy_deployment_group_name
  service_role_arn       = var.codedeploy_role_arn
  deployment_config_name = var.deployment_config_name

  deployment_style {
    deployment_type   = "BLUE_GREEN"
    deployment_option = "WITH_TRAFFIC_CONTROL"
  }

  blue_green_deployment_config {
    deployment_ready_option {
      action_on_timeout    = var.ready_wait_minutes > 0 ? "STOP_DEPLOYMENT" : "CONTINUE_DEPLOYMENT"
      wait_time_in_minutes = var.ready_wait_minutes
    }

    terminate_blue_instances_on_deployment_success {
      action                           = "TERMINATE"
      termination_wait_time_in_minutes = var.termination_wait_minutes
    }
  }

  ecs_service {
    cluster_name = var.cluster_name
    service_name = var.service_name
  }

  load_balancer_info {
    target_group_pair_info {
      prod_traffic_route {
        listener_arns = [var.prod_listener_arn]
      }

      test_traffic_route {
        listener_arns = [var.test_listener_arn]
      }

      target_group {
        name = var.target_group_names[0]
      }

      target_group {
        name = var.target_group_names[1]
      }
    }
  }

  alarm_configuration {
    enabled = length(var.alarm_names) > 0
    alarms  = var.alarm_names
  }

  auto_rollback_configuration {
    enabled = var.auto_rollback
    events  = var.auto_rollback ? ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"] : []
  }
}

# --- pipeline --------------------------------------------------------------

resource "aws_codepipeline" "app" {
  count = var.enable_pipeline ? 1 : 0

  name          = var.pipeline_name
  role_arn      = var.codepipeline_role_arn
  pipeline_type = "V2"

  artifact_store {
    type     = "S3"
    location = aws_s3_bucket.artifacts[0].bucket
  }

  stage {
    name = "Source"

    action {
      name             = "Source"
      category         = "Source"
      owner            = "AWS"
      provider         = local.codecommit ? "CodeCommit" : "CodeStarSourceConnection"
      version          = "1"
      output_artifacts = ["SourceArtifact"]
      configuration = local.codecommit ? {
        RepositoryName       = aws_codecommit_repository.app[0].repository_name
        BranchName           = var.source_branch
        PollForSourceChanges = "false"
        OutputArtifactFormat = "CODE_ZIP"
        } : {
        ConnectionArn    = aws_codestarconnections_connection.app[0].arn
        FullRepositoryId = var.source_repository
        BranchName       = var.source_branch
        DetectChanges    = tostring(var.start_pipeline_on_push)
      }
    }
  }

  stage {
    name = "Build"

    action {
      name             = "Build"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = ["SourceArtifact"]
      output_artifacts = ["BuildArtifact"]
      # The buildspec's exported IMAGE_URI and TASK_DEFINITION: what switchyard
      # shows approvers before the Deploy stage.
      namespace = "BuildVariables"
      configuration = {
        ProjectName = aws_codebuild_project.app[0].name
      }
    }
  }

  dynamic "stage" {
    for_each = local.approve ? ["Approval"] : []

    content {
      name = stage.value

      action {
        name     = "Approval"
        category = "Approval"
        owner    = "AWS"
        provider = "Manual"
        version  = "1"
        configuration = {
          CustomData = "Approve this release of ${var.name} in switchyard"
        }
      }
    }
  }

  # The ECS action registers a revision of the service's task definition
  # with the image imagedefinitions.json names ([{"name", "imageUri"}]) and
  # updates the service, which then deploys with the strategy switchyard set.
  stage {
    name = "Deploy"

    action {
      name            = "Deploy"
      category        = "Deploy"
      owner           = "AWS"
      provider        = local.ecs_controller ? "ECS" : "CodeDeployToECS"
      version         = "1"
      input_artifacts = ["BuildArtifact"]
      configuration = local.ecs_controller ? {
        ClusterName = var.cluster_name
        ServiceName = var.service_name
        FileName    = "imagedefinitions.json"
        } : {
        ApplicationName                = var.codedeploy_application_name
        DeploymentGroupName            = var.codedeploy_deployment_group_name
        TaskDefinitionTemplateArtifact = "BuildArtifact"
        TaskDefinitionTemplatePath     = "taskdef.json"
        AppSpecTemplateArtifact        = "BuildArtifact"
        AppSpecTemplatePath            = "appspec.yaml"
        Image1ArtifactName             = "BuildArtifact"
        Image1ContainerName            = "IMAGE1_NAME"
      }
    }
  }

  lifecycle {
    precondition {
      condition     = local.ecs_controller || var.enable_codedeploy
      error_message = "The pipeline's Deploy stage needs the CodeDeploy deployment group: enable_pipeline needs enable_codedeploy."
    }
  }

  depends_on = [aws_codedeploy_deployment_group.app]
}
