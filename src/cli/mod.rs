//! The command line: the server, local administration, and a client of the
//! REST API for people and scripts.

mod approvals;
mod aws;
pub mod client;
mod demo;
mod demo_bad_release;
mod demo_image;
mod deploy;
mod diff;
mod env;
mod logs;
mod output;
mod stack;

use clap::{Args, Parser, Subcommand};
use client::{ApiClient, CliError};
use localcloud::tasks::DockerHost;
use output::Output;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use switchyard_api::deployments::Wait;
use switchyard_api::environments::{CreateEnvironment, Environment, EnvironmentList, Resources};
use switchyard_api::releases::ReleasePage;
use switchyard_api::users::UserList;
use switchyard_domain::service_deployment::DeploymentController;
use switchyard_domain::slack::{SigningSecret, TeamId, UserId};
use switchyard_domain::user::{Role, UserName};
use switchyard_runtime::telemetry::{self, LogFormat};
use switchyard_server::HttpConfig;
use switchyard_server::serve::{self, ServeOptions};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Release control plane for blue/green deployments on AWS ECS"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    client: ClientArgs,
}

/// How the client commands reach the server.
#[derive(Debug, Args)]
struct ClientArgs {
    /// The switchyard server's base URL.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// API token (prefer the environment variable: arguments show in `ps`).
    #[arg(long, global = true, env = "SWITCHYARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read the API token from this file (e.g. DATA_DIR/admin-token).
    #[arg(long, global = true, env = "SWITCHYARD_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: REST API, webhooks and dashboard.
    Serve(ServeArgs),
    /// The whole job on this machine: serve with the local cloud, provision
    /// an environment, deploy the blue sample page, then shift traffic to
    /// the green one linearly, printing the split on the production URL.
    Demo(DemoArgs),
    /// Administer users directly in a data dir (works while the server runs).
    #[command(subcommand)]
    User(UserCommand),
    /// Environments.
    #[command(subcommand)]
    Env(EnvCommand),
    /// An environment's stack: provision, status, destroy.
    #[command(subcommand)]
    Stack(stack::StackCommand),
    /// An environment's release history, newest first.
    Releases {
        environment: String,
        /// Releases per page (1-200).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after this cursor (a previous page's `next`).
        #[arg(long)]
        before: Option<String>,
        /// Follow the cursors and print every release.
        #[arg(long, conflicts_with = "before")]
        all: bool,
    },
    /// Run the local cloud on its own: the AWS-compatible ECS and CodeDeploy
    /// slice that `serve` otherwise embeds.
    Localcloud(LocalcloudArgs),
    /// Deploy an image blue/green and follow the traffic shift.
    Deploy {
        environment: String,
        /// static:<dir> for a local environment, a container image on AWS.
        #[arg(long)]
        image: String,
        /// The release's version label (default: the UTC time).
        #[arg(long)]
        version: Option<String>,
        /// The full git commit the image was built from.
        #[arg(long)]
        commit: Option<String>,
        /// A predefined ECS deployment config (default: the environment's).
        #[arg(long)]
        config: Option<String>,
        #[arg(long, value_enum, default_value_t = deploy::WaitUntil::Completed)]
        wait_until: deploy::WaitUntil,
        /// Deploy through a freeze (admin), saying why; recorded and notified.
        #[arg(long, value_name = "REASON")]
        break_glass: Option<String>,
    },
    /// What deploying a release (or an image, or a pipeline run's build)
    /// would change against what is live: a unified diff of the task
    /// definitions, then the pushed commits.
    Diff {
        environment: String,
        /// A recorded release of the environment.
        version: Option<String>,
        /// An image to compare instead, as a deployment would register it.
        #[arg(long)]
        image: Option<String>,
        /// A pipeline run waiting for approval: what its build would deploy.
        #[arg(long, value_name = "ID")]
        run: Option<i64>,
    },
    /// An environment's URLs and latest deployments.
    Status { environment: String },
    /// The last lines of each task's log, newest task first (local
    /// environments), as `<short task id> <line>`.
    Logs {
        environment: String,
        /// Lines per task, the last ones (1-1000; the server's default is 100).
        #[arg(long)]
        tail: Option<u32>,
        /// Only this task: its id, or the short id the lines start with.
        #[arg(long)]
        task: Option<String>,
        /// Print the API's JSON (the same as --output json).
        #[arg(long)]
        json: bool,
    },
    /// Continue a deployment: reroute traffic now (ready) or remove the original now (termination).
    Continue {
        id: i64,
        #[arg(long, default_value = "ready", value_parser = parse_wait())]
        wait: Wait,
        /// Continue through a freeze (admin), saying why; recorded and notified.
        #[arg(long, value_name = "REASON")]
        break_glass: Option<String>,
    },
    /// Roll back: a deployment id stops it and returns traffic to the
    /// original; an environment name redeploys its previous release.
    Rollback {
        target: String,
        #[arg(long, value_enum, default_value_t = deploy::WaitUntil::Completed)]
        wait_until: deploy::WaitUntil,
    },
    /// Release approvals: by default the pending ones you may vote on.
    Approvals {
        /// List everyone's approvals in this state instead: pending,
        /// approved, rejected, closed or all.
        #[arg(long, value_parser = ["pending", "approved", "rejected", "closed", "all"])]
        state: Option<String>,
    },
    /// Approve a release (approver role; not your own unless the policy allows).
    Approve {
        id: i64,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a release: one rejection stops it. Say why.
    Reject {
        id: i64,
        #[arg(long)]
        comment: String,
    },
    /// Pipeline runs of an environment.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
}

#[derive(Debug, Subcommand)]
enum PipelineCommand {
    /// The latest runs, newest first, stage by stage.
    Runs { environment: String },
    /// Start the environment's pipeline (at a commit, or the branch head).
    Start {
        environment: String,
        #[arg(long)]
        commit: Option<String>,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct LocalcloudArgs {
    #[command(subcommand)]
    task: Option<LocalcloudTask>,
    /// Address of the AWS endpoint (port 0 picks a free one).
    #[arg(
        long,
        env = "SWITCHYARD_LOCALCLOUD_LISTEN",
        default_value = "127.0.0.1:4566"
    )]
    listen: SocketAddr,
    /// Holds the local cloud's state and its tasks' logs.
    #[arg(
        long,
        env = "SWITCHYARD_LOCALCLOUD_DATA_DIR",
        default_value = "./switchyard-data/localcloud",
        value_parser = absolute_path
    )]
    data_dir: PathBuf,
    #[command(flatten)]
    time: TimeScaleArg,
    #[command(flatten)]
    tasks: TaskRunArgs,
    #[arg(long, value_enum, env = "SWITCHYARD_LOG_FORMAT", default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
}

#[derive(Debug, Args)]
struct TaskRunArgs {
    /// The container engine (Docker Engine API) the local cloud runs tasks
    /// on: unix:///path/to/docker.sock or tcp://127.0.0.1:PORT. If it does
    /// not answer at start, tasks run as host processes.
    #[arg(long, env = "DOCKER_HOST", default_value = DockerHost::DEFAULT, value_parser = DockerHost::parse)]
    docker_host: DockerHost,
    /// Seconds the tasks of a crashed local cloud wait for it to come back
    /// (which adopts them) before they stop themselves.
    #[arg(
        long,
        env = "SWITCHYARD_TASK_ORPHAN_GRACE",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    task_orphan_grace: u64,
}

impl TaskRunArgs {
    fn orphan_grace(&self) -> Duration {
        Duration::from_secs(self.task_orphan_grace)
    }
}

#[derive(Debug, Args)]
struct TimeScaleArg {
    /// Deployment intervals and waits pass this many times faster (60: a
    /// minute of ECSLinear10PercentEvery1Minutes takes a second).
    #[arg(long, env = "SWITCHYARD_TIME_SCALE", default_value_t = 1.0, value_parser = parse_time_scale)]
    time_scale: f64,
}

fn parse_time_scale(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|scale| scale.is_finite() && *scale > 0.0)
        .ok_or_else(|| format!("{value:?} is not a positive number"))
}

#[derive(Debug, Subcommand)]
enum LocalcloudTask {
    /// A task's own process on the host: the built-in static file server
    /// of an image static:<dir> (on 127.0.0.1:$PORT), or the supervisor of
    /// a container's entryPoint + command.
    #[command(hide = true)]
    Task {
        /// The local cloud whose task this is (its instance id): how a
        /// restarted local cloud finds it.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        task_id: Option<String>,
        /// The local cloud's lease: without it for the grace, the task stops.
        #[arg(long, requires = "orphan_grace_ms")]
        lease: Option<PathBuf>,
        #[arg(long)]
        orphan_grace_ms: Option<u64>,
        #[arg(long, env = "PORT")]
        port: u16,
        #[arg(long, required_unless_present = "command", conflicts_with = "command")]
        static_dir: Option<PathBuf>,
        #[arg(last = true)]
        command: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    data: DataDirArg,
    #[arg(long, value_enum, env = "SWITCHYARD_LOG_FORMAT", default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "SWITCHYARD_MAX_BODY_BYTES", default_value_t = HttpConfig::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Largest webhook payload accepted, in bytes.
    #[arg(long, env = "SWITCHYARD_MAX_WEBHOOK_BYTES", default_value_t = HttpConfig::default().max_webhook_bytes)]
    max_webhook_bytes: usize,
    /// The dashboard's address as people reach it (links in notifications).
    #[arg(long, env = "SWITCHYARD_PUBLIC_URL")]
    public_url: Option<String>,
    /// Address of the embedded local cloud's AWS endpoint.
    #[arg(
        long,
        env = "SWITCHYARD_LOCALCLOUD_LISTEN",
        default_value = "127.0.0.1:0"
    )]
    localcloud_listen: SocketAddr,
    /// Use a standalone `switchyard localcloud` at this URL instead of
    /// embedding one (so either can restart without the other).
    #[arg(
        long,
        env = "SWITCHYARD_LOCALCLOUD_URL",
        conflicts_with = "localcloud_listen"
    )]
    localcloud_url: Option<String>,
    /// Deployment intervals and waits pass this many times faster in the
    /// embedded local cloud (60: a minute of ECSLinear10PercentEvery1Minutes
    /// takes a second) [default: 1]. With --localcloud-url, the scale that
    /// local cloud must run at: the start is refused if it announces another.
    #[arg(long, env = "SWITCHYARD_TIME_SCALE", value_parser = parse_time_scale)]
    time_scale: Option<f64>,
    #[command(flatten)]
    tasks: TaskRunArgs,
    /// A directory whose subdirectories `static:<dir>` images may name
    /// (repeatable; the data dir's build artifacts are always allowed).
    #[arg(long = "static-root", value_name = "DIR", env = "SWITCHYARD_STATIC_ROOTS", value_delimiter = ':', value_parser = absolute_path)]
    static_roots: Vec<PathBuf>,
    #[command(flatten)]
    aws: aws::AwsArgs,
    /// The Slack app's signing secret: turns on approvals from Slack
    /// (`POST /hooks/slack/interactions`). Prefer the environment variable;
    /// an argument shows in the process list.
    #[arg(long, env = "SWITCHYARD_SLACK_SIGNING_SECRET", hide_env_values = true, value_parser = parse_signing_secret)]
    slack_signing_secret: Option<SigningSecret>,
}

fn parse_signing_secret(value: &str) -> Result<SigningSecret, String> {
    SigningSecret::parse(value).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Deploy the sample pages as static sites even when a container engine
    /// answers (by default the demo builds and runs the sample app's image).
    #[arg(long = "static")]
    static_sites: bool,
    /// codedeploy (the default) or ecs: deploy through ECS's own controller,
    /// LINEAR behind a pause gate that a second user approves.
    #[arg(long, default_value = "codedeploy", value_parser = parse_controller)]
    controller: DeploymentController,
    /// Release a green that answers 500 to 30 % of its requests (the
    /// sample image with FAIL_PERCENT=30) under steady traffic, and watch
    /// the environment's alarm demo-target-5xx stop it and roll production
    /// back to blue. Needs a container engine.
    #[arg(long = "bad-release", conflicts_with = "static_sites")]
    bad_release: bool,
}

fn parse_controller(value: &str) -> Result<DeploymentController, String> {
    DeploymentController::parse(value).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
struct DataDirArg {
    /// Holds the database and the first admin's token.
    #[arg(long, env = "SWITCHYARD_DATA_DIR", default_value = "./switchyard-data", value_parser = absolute_path)]
    data_dir: PathBuf,
}

/// A path from the command line, made absolute against the working directory
/// once, at start: git, builds and tasks later run in other directories.
fn absolute_path(value: &str) -> Result<PathBuf, String> {
    std::path::absolute(value).map_err(|e| format!("cannot resolve the path {value:?}: {e}"))
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user and print their API token (shown only this once) on stdout.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// List users.
    List {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Revoke every API token of a user (their dashboard sessions end too).
    /// A server on this data dir stops accepting them within 10 seconds.
    Revoke {
        name: String,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Link the Slack account a user approves from: their clicks on
    /// Approve / Reject in Slack then vote as them.
    LinkSlack {
        name: String,
        /// The Slack workspace id (T…).
        #[arg(long, value_parser = parse_slack_team)]
        team: TeamId,
        /// The Slack user id (U…).
        #[arg(long, value_parser = parse_slack_user)]
        user: UserId,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Unlink a user's Slack account.
    UnlinkSlack {
        name: String,
        #[command(flatten)]
        data: DataDirArg,
    },
}

fn parse_slack_team(value: &str) -> Result<TeamId, String> {
    TeamId::parse(value).map_err(|e| e.to_string())
}

fn parse_slack_user(value: &str) -> Result<UserId, String> {
    UserId::parse(value).map_err(|e| e.to_string())
}

/// `ready` or `termination`, listed as the possible values in `--help`.
fn parse_wait() -> impl clap::builder::TypedValueParser<Value = Wait> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["ready", "termination"]).map(|wait| {
        if wait == "ready" {
            Wait::Ready
        } else {
            Wait::Termination
        }
    })
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
struct CreateEnvArgs {
    name: String,
    /// local (the embedded local cloud) or aws.
    #[arg(long, default_value = "local")]
    platform: String,
    /// AWS region (required for aws).
    #[arg(long)]
    region: Option<String>,
    /// The aws-config profile an aws environment's credentials come from.
    #[arg(long)]
    aws_profile: Option<String>,
    #[arg(long)]
    cluster: Option<String>,
    #[arg(long)]
    service: Option<String>,
    #[arg(long)]
    codedeploy_application: Option<String>,
    #[arg(long)]
    deployment_group: Option<String>,
    #[arg(long)]
    pipeline: Option<String>,
    #[arg(long)]
    prod_listener_arn: Option<String>,
    #[arg(long)]
    test_listener_arn: Option<String>,
    /// The predefined ECS deployment config deployments use by default
    /// (e.g. ECSLinear10PercentEvery1Minutes).
    #[arg(long)]
    deployment_config: Option<String>,
    #[command(flatten)]
    deployment: env::DeploymentArgs,
    #[command(flatten)]
    policy: env::PolicyArgs,
}

#[derive(Debug, Subcommand)]
enum EnvCommand {
    /// Create an environment.
    Create(Box<CreateEnvArgs>),
    /// Change what an environment follows, who approves its releases, and
    /// how it deploys.
    Update(Box<env::UpdateEnvArgs>),
    /// List environments.
    List,
    /// Show one environment.
    Show { name: String },
    /// Delete an environment (its history is kept).
    Delete { name: String },
    /// Move a local environment from CodeDeploy to ECS's own controller,
    /// between deployments and without replacing its tasks.
    Migrate(Box<env::MigrateEnvArgs>),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => {
            telemetry::init(args.log_format);
            serve::serve(serve_options(args))
                .await
                .map_err(CliError::Local)
        }
        Command::Demo(DemoArgs {
            serve: mut args,
            static_sites,
            controller,
            bad_release,
        }) => {
            // Its progress lines are meant to be watched: the log goes to a file.
            let log = args.data.data_dir.join(demo::LOG_FILE);
            telemetry::init_to_file(args.log_format, &log).map_err(|e| {
                CliError::Usage(format!(
                    "cannot write the demo's log to {}: {e}",
                    log.display()
                ))
            })?;
            println!("logs: {}", log.display());
            // The demo is meant to be watched: a minute of a deployment config passes in a second.
            if args.time_scale.is_none() && args.localcloud_url.is_none() {
                args.time_scale = Some(60.0);
            }
            demo::run(serve_options(args), static_sites, controller, bad_release).await
        }
        Command::User(command) => user(command, cli.client.output).await,
        Command::Env(command) => env(command, &cli.client).await,
        Command::Stack(command) => {
            stack::run(&ApiClient::new(&cli.client)?, cli.client.output, command).await
        }
        Command::Releases {
            environment,
            limit,
            before,
            all,
        } => {
            let client = ApiClient::new(&cli.client)?;
            let out = cli.client.output;
            if all {
                let releases = client.all_releases(&environment, limit).await?;
                out.print_releases(
                    &ReleasePage {
                        releases,
                        next: None,
                    },
                    &environment,
                )
            } else {
                let page = client
                    .releases(&environment, limit, before.as_deref())
                    .await?;
                out.print_releases(&page, &environment)
            }
        }
        Command::Deploy {
            environment,
            image,
            version,
            commit,
            config,
            wait_until,
            break_glass,
        } => {
            let client = ApiClient::new(&cli.client)?;
            let args = deploy::DeployArgs {
                environment: &environment,
                image: &image,
                version,
                commit: commit.as_deref(),
                config: config.as_deref(),
                wait_until,
                break_glass: break_glass.as_deref(),
            };
            deploy::deploy(&client, cli.client.output, args).await
        }
        Command::Diff {
            environment,
            version,
            image,
            run,
        } => {
            let args = diff::DiffArgs {
                environment: &environment,
                version: version.as_deref(),
                image: image.as_deref(),
                run,
            };
            diff::run(&ApiClient::new(&cli.client)?, cli.client.output, args).await
        }
        Command::Status { environment } => {
            deploy::status(
                &ApiClient::new(&cli.client)?,
                cli.client.output,
                &environment,
            )
            .await
        }
        Command::Logs {
            environment,
            tail,
            task,
            json,
        } => {
            let out = if json {
                Output::Json
            } else {
                cli.client.output
            };
            let args = logs::LogsArgs {
                environment: &environment,
                tail,
                task: task.as_deref(),
            };
            logs::run(&ApiClient::new(&cli.client)?, out, args).await
        }
        Command::Continue {
            id,
            wait,
            break_glass,
        } => {
            let client = ApiClient::new(&cli.client)?;
            let break_glass = deploy::break_glass(break_glass.as_deref());
            deploy::continue_deployment(&client, cli.client.output, id, wait, break_glass).await
        }
        Command::Rollback { target, wait_until } => {
            deploy::rollback(
                &ApiClient::new(&cli.client)?,
                cli.client.output,
                &target,
                wait_until,
            )
            .await
        }
        Command::Localcloud(args) => localcloud(args).await.map_err(CliError::Local),
        Command::Approvals { state } => {
            approvals::list(
                &ApiClient::new(&cli.client)?,
                cli.client.output,
                state.as_deref(),
            )
            .await
        }
        Command::Approve { id, comment } => {
            let client = ApiClient::new(&cli.client)?;
            approvals::decide(
                &client,
                cli.client.output,
                id,
                "approve",
                comment.as_deref(),
            )
            .await
        }
        Command::Reject { id, comment } => {
            let client = ApiClient::new(&cli.client)?;
            approvals::decide(&client, cli.client.output, id, "reject", Some(&comment)).await
        }
        Command::Pipeline(PipelineCommand::Runs { environment }) => {
            approvals::runs(
                &ApiClient::new(&cli.client)?,
                cli.client.output,
                &environment,
            )
            .await
        }
        Command::Pipeline(PipelineCommand::Start {
            environment,
            commit,
        }) => {
            let client = ApiClient::new(&cli.client)?;
            approvals::start(&client, cli.client.output, &environment, commit.as_deref()).await
        }
    }
}

fn serve_options(args: ServeArgs) -> ServeOptions {
    ServeOptions {
        listen: args.listen,
        data_dir: args.data.data_dir,
        http: HttpConfig {
            max_body_bytes: args.max_body_bytes,
            max_webhook_bytes: args.max_webhook_bytes,
            slack_signing_secret: args.slack_signing_secret,
        },
        public_url: args.public_url,
        aws: args.aws.settings(),
        static_roots: args.static_roots,
        cloud: match args.localcloud_url {
            Some(url) => serve::CloudOptions::External {
                url,
                time_scale: args.time_scale,
            },
            None => serve::CloudOptions::Embedded {
                listen: args.localcloud_listen,
                time_scale: args.time_scale.unwrap_or(1.0),
                task_orphan_grace: args.tasks.orphan_grace(),
                docker_host: args.tasks.docker_host,
            },
        },
    }
}

async fn localcloud(args: LocalcloudArgs) -> anyhow::Result<()> {
    match args.task {
        Some(LocalcloudTask::Task {
            lease,
            orphan_grace_ms,
            port,
            static_dir,
            command,
            ..
        }) => {
            use localcloud::tasks::host_task::{self, HostProgram, HostTaskArgs};
            let program = match static_dir {
                Some(dir) => HostProgram::StaticSite { dir },
                None => HostProgram::Command { argv: command },
            };
            let grace = Duration::from_millis(orphan_grace_ms.unwrap_or_default());
            let status = host_task::run(HostTaskArgs {
                port,
                lease: lease.map(|path| (path, grace)),
                program,
            })
            .await?;
            host_task::exit_as(status)
        }
        None => {
            telemetry::init(args.log_format);
            let shutdown = switchyard_runtime::shutdown_signal()?;
            let cloud = localcloud::LocalCloud::start(localcloud::LocalCloudConfig {
                listen: args.listen,
                data_dir: args.data_dir,
                time_scale: args.time.time_scale,
                task_orphan_grace: args.tasks.orphan_grace(),
                docker_host: args.tasks.docker_host,
            })
            .await?;
            println!("local cloud listening on {}", cloud.endpoint());
            shutdown.await;
            cloud.shutdown().await;
            Ok(())
        }
    }
}

async fn user(command: UserCommand, out: Output) -> Result<(), CliError> {
    match command {
        UserCommand::Add { name, role, data } => {
            let name = user_name(&name)?;
            let app = local_app(&data).await?;
            let (user, token) = app
                .create_user_locally(&name, role)
                .await
                .map_err(|e| CliError::Local(e.into()))?;
            eprintln!(
                "created user {} ({}); their API token follows, shown only this once",
                user.name, user.role
            );
            println!("{}", token.expose());
            Ok(())
        }
        UserCommand::Revoke { name, data } => {
            let name = user_name(&name)?;
            let app = local_app(&data).await?;
            let revoked = app
                .revoke_tokens_locally(&name)
                .await
                .map_err(|e| CliError::Local(e.into()))?;
            eprintln!("revoked {revoked} API token(s) of {name}");
            Ok(())
        }
        UserCommand::LinkSlack {
            name,
            team,
            user,
            data,
        } => {
            let name = user_name(&name)?;
            let app = local_app(&data).await?;
            app.link_slack_account_locally(&name, &team, &user)
                .await
                .map_err(|e| CliError::Local(e.into()))?;
            eprintln!(
                "linked the Slack account {}/{} to {name}",
                team.as_str(),
                user.as_str()
            );
            Ok(())
        }
        UserCommand::UnlinkSlack { name, data } => {
            let name = user_name(&name)?;
            let app = local_app(&data).await?;
            let unlinked = app
                .unlink_slack_account_locally(&name)
                .await
                .map_err(|e| CliError::Local(e.into()))?;
            if unlinked {
                eprintln!("unlinked the Slack account of {name}");
            } else {
                eprintln!("{name} had no linked Slack account");
            }
            Ok(())
        }
        UserCommand::List { data } => {
            let app = local_app(&data).await?;
            let users = app
                .list_users_locally()
                .await
                .map_err(|e| CliError::Local(e.into()))?;
            // The same shape as the API's user list.
            out.print_users(&UserList {
                users: users
                    .into_iter()
                    .map(switchyard_server::api::users::user_json)
                    .collect(),
            })
        }
    }
}

fn user_name(name: &str) -> Result<UserName, CliError> {
    UserName::parse(name).map_err(|e| CliError::Usage(e.to_string()))
}

/// The application on a data dir, for the local administration commands.
async fn local_app(data: &DataDirArg) -> Result<switchyard_core::app::App, CliError> {
    serve::open_app(&data.data_dir)
        .await
        .map_err(CliError::Local)
}

async fn env(command: EnvCommand, args: &ClientArgs) -> Result<(), CliError> {
    let client = ApiClient::new(args)?;
    let out = args.output;
    match command {
        EnvCommand::Create(args) => {
            let CreateEnvArgs {
                name,
                platform,
                region,
                aws_profile,
                cluster,
                service,
                codedeploy_application,
                deployment_group,
                pipeline,
                prod_listener_arn,
                test_listener_arn,
                deployment_config,
                deployment,
                policy,
            } = *args;
            let policy = policy.policy()?;
            let ecs_deployment = deployment
                .sets_ecs_deployment()
                .then(|| deployment.ecs_deployment(Default::default()))
                .transpose()?;
            let body = CreateEnvironment {
                name,
                platform,
                region,
                aws_profile,
                resources: Some(Resources {
                    cluster,
                    service,
                    codedeploy_application,
                    deployment_group,
                    pipeline,
                    prod_listener_arn,
                    test_listener_arn,
                }),
                deployment_config,
                controller: deployment.controller(),
                ecs_deployment,
                alarms: deployment.alarms()?,
                metric_gate: deployment.metric_gate()?,
                freeze_windows: deployment.freeze_windows()?,
                source: policy.source,
                webhook_secret: policy.webhook_secret,
                approval_policy: policy.approval_policy,
                ..CreateEnvironment::default()
            };
            let created: Environment = client.post("/api/environments", &body).await?;
            out.print_environment(&created)
        }
        EnvCommand::Update(args) => env::update(&client, out, &args).await,
        EnvCommand::Migrate(args) => env::migrate(&client, out, &args).await,
        EnvCommand::List => {
            let list: EnvironmentList = client.get("/api/environments").await?;
            out.print_environments(&list)
        }
        EnvCommand::Show { name } => {
            let env: Environment = client
                .get(&format!("/api/environments/{}", client::segment(&name)))
                .await?;
            out.print_environment(&env)
        }
        EnvCommand::Delete { name } => {
            // 204: no body.
            client
                .delete::<()>(&format!("/api/environments/{}", client::segment(&name)))
                .await?;
            if out == Output::Json {
                // The API answers 204 without a body: this line is the CLI's own.
                println!("{}", serde_json::json!({"deleted": name}));
            } else {
                println!("deleted environment {name}");
            }
            Ok(())
        }
    }
}
