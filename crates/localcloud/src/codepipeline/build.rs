//! CodeBuild actions, run on the host: a fresh copy of the input
//! artifacts, the buildspec's phases in a shell, the output artifacts
//! collected by its `artifacts` globs, and a log that can be tailed while
//! the build runs.
//!
//! Phases run in order. Each runs its commands in one shell, so within a
//! phase everything carries over from one command to the next; between
//! phases the exported variables and the working directory carry over.
//! The first failing command ends its phase (its `finally` commands still
//! run). A failed INSTALL or PRE_BUILD skips the later phases, a failed
//! BUILD still runs POST_BUILD (with CODEBUILD_BUILD_SUCCEEDING=0), and a
//! phase with `on-failure: CONTINUE` lets the next phase run; the build
//! fails either way, and only a build that succeeded uploads artifacts.

use super::super::state::{ArtifactRecord, CloudState, REGION, arn};
use super::super::{LocalCloud, now_millis};
use super::buildspec::{self, BuildSpec, Phase};
use super::engine::{self, ActionFailure, ActionSuccess, Launch};
use super::process::{self, Finished};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A CodeBuild project's default timeout, in cloud minutes.
const BUILD_TIMEOUT_MINUTES: f64 = 60.0;
/// ... but never less than this in real time, whatever the time scale.
const BUILD_TIMEOUT_FLOOR: Duration = Duration::from_secs(30);
/// Lines of the log an error message quotes.
const LOG_TAIL_LINES: usize = 20;
/// The buildspec AWS uses, and the sample's Docker-free one for hosts without
/// a container engine.
const BUILDSPEC: &str = "buildspec.yml";
const BUILDSPEC_WITHOUT_DOCKER: &str = "buildspec.local.yml";
/// A build variable naming the buildspec to run, as CodeBuild's
/// buildspecOverride would (e.g. `buildspec.local.yml` on an engine).
pub const BUILDSPEC_VARIABLE: &str = "SWITCHYARD_BUILDSPEC";
/// What buildspecs call that the host may lack; the log says which are missing.
const BUILD_TOOLS: [&str; 3] = ["docker", "aws", "jq"];

/// The buildspecs a build looks for, first found wins: the one the action's
/// variables name, else with a container engine the one AWS runs (the
/// local one only if that is missing), else the local one first.
pub fn buildspec_order(variables: &[(String, String)], engine: bool) -> Vec<String> {
    if let Some((_, named)) = variables
        .iter()
        .rev()
        .find(|(k, _)| k == BUILDSPEC_VARIABLE)
    {
        return vec![named.clone()];
    }
    let order = if engine {
        [BUILDSPEC, BUILDSPEC_WITHOUT_DOCKER]
    } else {
        [BUILDSPEC_WITHOUT_DOCKER, BUILDSPEC]
    };
    order.map(str::to_owned).to_vec()
}

struct Input {
    name: String,
    dir: PathBuf,
    revision: Option<String>,
}

struct Job {
    pipeline: String,
    project: String,
    build_id: String,
    number: u64,
    /// The primary source first.
    inputs: Vec<Input>,
    outputs: Vec<String>,
    variables: Vec<(String, String)>,
    work: PathBuf,
    artifacts: PathBuf,
    log: PathBuf,
    limit: Duration,
}

pub async fn run(cloud: Arc<LocalCloud>, launch: Launch) {
    let outcome = match prepare(&cloud, &launch) {
        Some(job) => {
            let outcome = build(&cloud, &launch, &job).await;
            let _ = std::fs::remove_dir_all(&job.work);
            outcome
        }
        None => Err(ActionFailure::new(
            "the build's execution, action or input artifacts are gone",
        )),
    };
    engine::report(&cloud, &launch, outcome);
}

fn prepare(cloud: &LocalCloud, launch: &Launch) -> Option<Job> {
    let data_dir = cloud.data_dir().to_path_buf();
    let limit = Duration::from_millis(
        cloud
            .clock()
            .minutes_to_real_millis(BUILD_TIMEOUT_MINUTES)
            .max(0) as u64,
    )
    .max(BUILD_TIMEOUT_FLOOR);
    cloud
        .mutate(|s| Ok(job(s, &data_dir, launch, limit)))
        .ok()
        .flatten()
}

fn job(s: &mut CloudState, data_dir: &Path, launch: &Launch, limit: Duration) -> Option<Job> {
    let (e, run, action) = launch.find(s)?;
    let config = &run.resolved_configuration;
    let project = config.get("ProjectName").cloned().unwrap_or_default();
    let primary = config
        .get("PrimarySource")
        .cloned()
        .unwrap_or_else(|| action.input_artifacts[0].clone());
    let mut names = action.input_artifacts.clone();
    names.sort_by_key(|n| *n != primary);
    let inputs = names
        .into_iter()
        .map(|name| {
            let artifact = e.artifacts.get(&name)?;
            Some(Input {
                dir: artifact.dir.clone(),
                revision: artifact.revision_id.clone(),
                name,
            })
        })
        .collect::<Option<Vec<Input>>>()?;
    let variables = config
        .get("EnvironmentVariables")
        .map(|raw| super::declaration::parse_environment_variables(raw).unwrap_or_default())
        .unwrap_or_default();
    let execution_dir = super::execution_dir(data_dir, &e.id);
    let job = Job {
        pipeline: e.pipeline.clone(),
        build_id: run
            .external_execution_id
            .clone()
            .unwrap_or_else(|| format!("{project}:{}", run.id)),
        number: 0,
        inputs,
        outputs: action.output_artifacts.clone(),
        variables,
        work: execution_dir.join("work").join(&run.id),
        artifacts: execution_dir.join("artifacts").join(&run.id),
        log: super::build_log_path(data_dir, &run.id)?,
        limit,
        project,
    };
    let number = s.build_numbers.entry(job.project.clone()).or_insert(0);
    *number += 1;
    Some(Job {
        number: *number,
        ..job
    })
}

/// The build log: the commands' output as they write it, and the build's
/// own lines in CodeBuild's `[Container]` form.
struct BuildLog {
    file: std::fs::File,
    path: PathBuf,
}

impl BuildLog {
    fn open(path: &Path) -> std::io::Result<BuildLog> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(BuildLog {
            file,
            path: path.to_path_buf(),
        })
    }

    fn line(&mut self, text: &str) {
        let stamp = chrono::Utc::now().format("%Y/%m/%d %H:%M:%S");
        let _ = writeln!(self.file, "[Container] {stamp} {text}");
    }

    fn tail(&self) -> String {
        let text = std::fs::read(&self.path).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

/// How a phase's commands (or its finally block) ended.
enum Ran {
    Succeeded,
    Failed { command: String, reason: String },
    TimedOut,
    Cancelled,
    CannotRun(String),
}

struct Builder<'a> {
    cloud: &'a LocalCloud,
    launch: &'a Launch,
    job: &'a Job,
    spec: BuildSpec,
    log: BuildLog,
    env: Vec<(String, String)>,
    src: PathBuf,
    state: PathBuf,
    deadline: Instant,
    scripts: usize,
}

async fn build(
    cloud: &LocalCloud,
    launch: &Launch,
    job: &Job,
) -> Result<ActionSuccess, ActionFailure> {
    let mut log = BuildLog::open(&job.log)
        .map_err(|e| ActionFailure::new(format!("cannot open the build log: {e}")))?;
    match cloud.runtime.task_runner().engine() {
        Some(engine) => log.line(&format!(
            "Running on the local cloud: commands run on this host, docker talks to {}",
            engine.host().as_str()
        )),
        None => {
            log.line("Running on the local cloud: commands run on this host, no container engine")
        }
    }
    log.line("Phase is DOWNLOAD_SOURCE");
    let _ = std::fs::remove_dir_all(&job.work);
    let src = job.work.join("src");
    let state = job.work.join("state");
    let mut secondary = Vec::new();
    let copied = std::fs::create_dir_all(&state).and_then(|()| {
        for (i, input) in job.inputs.iter().enumerate() {
            let dir = if i == 0 {
                src.clone()
            } else {
                job.work.join(format!("src_{}", input.name))
            };
            copy_tree(&input.dir, &dir)?;
            if i > 0 {
                secondary.push((input.name.clone(), dir));
            }
        }
        std::fs::write(state.join("cwd"), src.to_string_lossy().as_bytes())
    });
    if let Err(e) = copied {
        log.line(&format!("cannot copy the input artifacts: {e}"));
        return Err(failed(
            &log,
            "DOWNLOAD_SOURCE",
            "CLIENT_ERROR",
            &format!("cannot copy the input artifacts: {e}"),
        ));
    }
    log.line(&format!("CODEBUILD_SRC_DIR={}", src.display()));
    let engine = cloud.runtime.task_runner().engine().cloned();
    let order = buildspec_order(&job.variables, engine.is_some());
    let Some(spec_path) = order
        .iter()
        .filter(|name| buildspec::stays_inside(name))
        .map(|name| src.join(name))
        .find(|p| p.is_file())
    else {
        let message = format!("YAML_FILE_ERROR: the source has no {}", order.join(" nor "));
        log.line(&message);
        return Err(failed(&log, "DOWNLOAD_SOURCE", "YAML_FILE_ERROR", &message));
    };
    log.line(&format!("YAML location is {}", spec_path.display()));
    let spec = std::fs::read_to_string(&spec_path)
        .map_err(|e| e.to_string())
        .and_then(|text| buildspec::parse(&text));
    let spec = match spec {
        Ok(spec) => spec,
        Err(why) => {
            let message = format!("YAML_FILE_ERROR: {why}");
            log.line(&message);
            return Err(failed(&log, "DOWNLOAD_SOURCE", "YAML_FILE_ERROR", &message));
        }
    };
    for ignored in &spec.ignored {
        log.line(&format!("{ignored} is ignored by local builds"));
    }
    log.line("Phase complete: DOWNLOAD_SOURCE State: SUCCEEDED");
    log.line("Processing environment variables");
    let env = environment(cloud, job, &spec, &src, &secondary);
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let missing: Vec<&str> = BUILD_TOOLS
        .into_iter()
        .filter(|tool| !on_path(tool, path.unwrap_or_default()))
        .collect();
    if !missing.is_empty() {
        log.line(&format!(
            "Not on this host's PATH: {} (commands calling them will fail)",
            missing.join(", ")
        ));
    }
    let mut builder = Builder {
        cloud,
        launch,
        job,
        spec,
        log,
        env,
        src,
        state,
        deadline: Instant::now() + job.limit,
        scripts: 0,
    };
    builder.phases().await?;
    builder.upload().await
}

/// The build's environment: little of the host's (a build should not see
/// the credentials the local cloud was started with), the buildspec's
/// variables, the action's (which win), then CodeBuild's own.
fn environment(
    cloud: &LocalCloud,
    job: &Job,
    spec: &BuildSpec,
    src: &Path,
    secondary: &[(String, PathBuf)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        "PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME",
    ]
    .iter()
    .filter_map(|key| std::env::var(key).ok().map(|v| ((*key).to_owned(), v)))
    .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push((
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ));
    }
    env.extend(spec.variables.iter().cloned());
    env.extend(job.variables.iter().cloned());
    let revision = job.inputs[0].revision.clone().unwrap_or_default();
    env.extend([
        (
            "CODEBUILD_SRC_DIR".to_owned(),
            src.to_string_lossy().into_owned(),
        ),
        ("CODEBUILD_SOURCE_VERSION".to_owned(), revision.clone()),
        ("CODEBUILD_RESOLVED_SOURCE_VERSION".to_owned(), revision),
        ("CODEBUILD_BUILD_ID".to_owned(), job.build_id.clone()),
        (
            "CODEBUILD_BUILD_ARN".to_owned(),
            arn("codebuild", &format!("build/{}", job.build_id)),
        ),
        ("CODEBUILD_BUILD_NUMBER".to_owned(), job.number.to_string()),
        (
            "CODEBUILD_INITIATOR".to_owned(),
            format!("codepipeline/{}", job.pipeline),
        ),
        ("CODEBUILD_START_TIME".to_owned(), now_millis().to_string()),
        ("CODEBUILD_BUILD_SUCCEEDING".to_owned(), "1".to_owned()),
        ("AWS_REGION".to_owned(), REGION.to_owned()),
        ("AWS_DEFAULT_REGION".to_owned(), REGION.to_owned()),
        ("AWS_ENDPOINT_URL".to_owned(), cloud.endpoint().to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "local".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "local".to_owned()),
    ]);
    // The build's docker talks to the engine tasks run on, so the images it
    // builds are there; its logins stay in the build's own config dir.
    if let Some(engine) = cloud.runtime.task_runner().engine() {
        env.push(("DOCKER_HOST".to_owned(), engine.host().as_str().to_owned()));
    }
    env.push((
        "DOCKER_CONFIG".to_owned(),
        job.work
            .join("docker-config")
            .to_string_lossy()
            .into_owned(),
    ));
    for (name, dir) in secondary {
        env.push((
            format!("CODEBUILD_SRC_DIR_{name}"),
            dir.to_string_lossy().into_owned(),
        ));
    }
    env
}

/// Whether `program` is an executable file in one of `path`'s directories.
fn on_path(program: &str, path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `'text'` for sh, whatever the text holds.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl Builder<'_> {
    async fn phases(&mut self) -> Result<(), ActionFailure> {
        let phases = self.spec.phases.clone();
        let mut failure: Option<(&'static str, String, String)> = None;
        let mut only_post_build = false;
        for phase in &phases {
            if only_post_build && phase.name != "POST_BUILD" {
                continue;
            }
            let ran = self.phase(phase, failure.is_none()).await;
            match ran {
                Ran::Succeeded => {}
                Ran::Cancelled => {
                    self.log
                        .line("The build was abandoned: its processes were stopped");
                    return Err(ActionFailure::new("the build was abandoned"));
                }
                Ran::TimedOut => {
                    let minutes = self.job.limit.as_secs_f64() / 60.0;
                    let message = format!("Build timed out after {minutes:.1} minutes");
                    self.log.line(&message);
                    return Err(failed(&self.log, phase.name, "BUILD_TIMED_OUT", &message));
                }
                Ran::CannotRun(why) => {
                    return Err(failed(&self.log, phase.name, "CLIENT_ERROR", &why));
                }
                Ran::Failed { command, reason } => {
                    let message =
                        format!("Error while executing command: {command}. Reason: {reason}");
                    failure.get_or_insert((phase.name, "COMMAND_EXECUTION_ERROR".into(), message));
                    if phase.continue_on_failure {
                        continue;
                    }
                    if phase.name == "BUILD" {
                        only_post_build = true;
                        continue;
                    }
                    break;
                }
            }
        }
        match failure {
            Some((phase, code, message)) => Err(failed(&self.log, phase, &code, &message)),
            None => Ok(()),
        }
    }

    async fn phase(&mut self, phase: &Phase, succeeding: bool) -> Ran {
        self.log.line(&format!("Entering phase {}", phase.name));
        let mut ran = self.script(&phase.commands, succeeding).await;
        if let Ran::Failed { command, reason } = &ran {
            self.log.line(&format!(
                "Command did not exit successfully {command} {reason}"
            ));
        }
        if !phase.finally.is_empty() && matches!(ran, Ran::Succeeded | Ran::Failed { .. }) {
            let finally = self
                .script(&phase.finally, succeeding && matches!(ran, Ran::Succeeded))
                .await;
            if matches!(ran, Ran::Succeeded)
                || !matches!(finally, Ran::Succeeded | Ran::Failed { .. })
            {
                ran = finally;
            }
        }
        let state = match &ran {
            Ran::Succeeded => "SUCCEEDED",
            Ran::TimedOut => "TIMED_OUT",
            Ran::Cancelled => "STOPPED",
            _ => "FAILED",
        };
        self.log
            .line(&format!("Phase complete: {} State: {state}", phase.name));
        match &ran {
            Ran::Failed { command, reason } => self.log.line(&format!(
                "Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: {command}. Reason: {reason}"
            )),
            Ran::CannotRun(why) => self.log.line(&format!("Phase context status code: CLIENT_ERROR Message: {why}")),
            _ => self.log.line("Phase context status code:  Message: "),
        }
        ran
    }

    /// Runs commands in one shell that starts from the state the previous
    /// script left (variables, directory) and saves it on exit. `set -a`
    /// exports every assignment, so that a variable set in one phase is
    /// there in the next, as buildspec version 0.2 promises.
    async fn script(&mut self, commands: &[String], succeeding: bool) -> Ran {
        if commands.is_empty() {
            return Ran::Succeeded;
        }
        let state = quote(&self.state.to_string_lossy());
        let mut script = format!(
            "set -a\n\
             __sy_state={state}\n\
             if [ -f \"$__sy_state/env\" ]; then . \"$__sy_state/env\"; fi\n\
             cd \"$(cat \"$__sy_state/cwd\")\" || exit 1\n\
             export CODEBUILD_BUILD_SUCCEEDING={}\n\
             trap '__sy_rc=$?; export -p > \"$__sy_state/env\"; pwd > \"$__sy_state/cwd\"; exit $__sy_rc' EXIT\n",
            u8::from(succeeding)
        );
        for command in commands {
            script.push_str(&format!(
                "__sy_cmd={}\n\
                 printf '%s' \"$__sy_cmd\" > \"$__sy_state/command\"\n\
                 printf '[Container] %s Running command %s\\n' \"$(date -u '+%Y/%m/%d %H:%M:%S')\" \"$__sy_cmd\"\n\
                 eval \"$__sy_cmd\"\n\
                 __sy_rc=$?\n\
                 if [ \"$__sy_rc\" -ne 0 ]; then exit \"$__sy_rc\"; fi\n",
                quote(command)
            ));
        }
        script.push_str("exit 0\n");
        self.scripts += 1;
        let path = self.state.join(format!("script-{}.sh", self.scripts));
        if let Err(e) = std::fs::write(&path, script) {
            return Ran::CannotRun(format!("cannot write the build script: {e}"));
        }
        let (stdout, stderr) = match (self.log.file.try_clone(), self.log.file.try_clone()) {
            (Ok(out), Ok(err)) => (out, err),
            (Err(e), _) | (_, Err(e)) => {
                return Ran::CannotRun(format!("cannot write the build log: {e}"));
            }
        };
        let mut command = Command::new(&self.spec.shell);
        command
            .arg(&path)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.src)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let (cloud, launch) = (self.cloud, self.launch);
        match process::run(command, remaining, || !engine::still_running(cloud, launch)).await {
            Ok(Finished::Exited(output)) if output.status.success() => Ran::Succeeded,
            Ok(Finished::Exited(output)) => Ran::Failed {
                command: std::fs::read_to_string(self.state.join("command"))
                    .unwrap_or_else(|_| "(the shell's set-up)".into()),
                reason: process::describe(&output.status),
            },
            Ok(Finished::TimedOut) => Ran::TimedOut,
            Ok(Finished::Cancelled) => Ran::Cancelled,
            Err(e) => Ran::CannotRun(format!("cannot run {}: {e}", self.spec.shell)),
        }
    }

    /// UPLOAD_ARTIFACTS: each output artifact gets what its part of the
    /// buildspec's `artifacts` names.
    async fn upload(mut self) -> Result<ActionSuccess, ActionFailure> {
        self.log.line("Phase is UPLOAD_ARTIFACTS");
        let mut artifacts = Vec::new();
        for (index, name) in self.job.outputs.iter().enumerate() {
            let spec = self.spec.secondary_artifacts.get(name).or(if index == 0 {
                self.spec.artifacts.as_ref()
            } else {
                None
            });
            let Some(spec) = spec else {
                let message = format!(
                    "CLIENT_ERROR: the buildspec declares no artifacts for the output artifact {name} \
                     (artifacts for the first output, secondary-artifacts with identifier {name} for any)"
                );
                self.log.line(&message);
                return Err(failed(
                    &self.log,
                    "UPLOAD_ARTIFACTS",
                    "CLIENT_ERROR",
                    &message,
                ));
            };
            let dir = self.job.artifacts.join(name);
            let copied = buildspec::collect(&self.src, spec).and_then(|files| {
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                for (from, to) in &files {
                    let to = dir.join(to);
                    if let Some(parent) = to.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                    }
                    std::fs::copy(from, &to)
                        .map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
                }
                Ok(files.len())
            });
            match copied {
                Ok(count) => self
                    .log
                    .line(&format!("Uploaded {count} file(s) to the artifact {name}")),
                Err(why) => {
                    self.log.line(&why);
                    return Err(failed(&self.log, "UPLOAD_ARTIFACTS", "CLIENT_ERROR", &why));
                }
            }
            artifacts.push(ArtifactRecord {
                name: name.clone(),
                dir,
                action_execution_id: self.launch.run.clone(),
                revision_id: None,
                revision_summary: None,
                revision_created: None,
                created_at: now_millis(),
            });
        }
        let output_variables = self.exported_variables().await?;
        self.log
            .line("Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED");
        self.log.line("Build succeeded");
        Ok(ActionSuccess {
            summary: Some(format!("Build {} succeeded", self.job.build_id)),
            artifacts,
            output_variables,
        })
    }

    /// The values of env.exported-variables at the end of the build.
    async fn exported_variables(&mut self) -> Result<BTreeMap<String, String>, ActionFailure> {
        let names = self.spec.exported_variables.clone();
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut script = format!(
            "if [ -f {0}/env ]; then . {0}/env; fi\n",
            quote(&self.state.to_string_lossy())
        );
        for name in &names {
            script.push_str(&format!("printf '%s\\0' \"${{{name}-}}\"\n"));
        }
        let mut command = Command::new(&self.spec.shell);
        command
            .args(["-c", &script])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.src)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        match process::run(command, Duration::from_secs(30), || false).await {
            Ok(Finished::Exited(output)) if output.status.success() => {
                let values = String::from_utf8_lossy(&output.stdout).into_owned();
                Ok(names
                    .into_iter()
                    .zip(values.split('\0').map(str::to_owned))
                    .collect())
            }
            _ => {
                let message = "cannot read the exported variables".to_owned();
                self.log.line(&message);
                Err(failed(
                    &self.log,
                    "UPLOAD_ARTIFACTS",
                    "CLIENT_ERROR",
                    &message,
                ))
            }
        }
    }
}

/// The failure of a build as CodeBuild reports it, with the log's tail.
fn failed(log: &BuildLog, phase: &str, code: &str, message: &str) -> ActionFailure {
    let head = format!(
        "Build terminated with state: FAILED. Phase: {phase}, Code: {code}, Message: {message}"
    );
    let tail = log.tail();
    let full = format!("{head}\nLast lines of the build log:\n{tail}");
    ActionFailure {
        summary: Some(engine::truncate(&full, 2048)),
        message: full,
    }
}

/// Copies a directory tree: files with their permissions, symlinks as
/// symlinks.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_anything() {
        let text = "it's a \"test\" $HOME `x`";
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("printf '%s' {}", quote(text))])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
    }

    #[test]
    fn copies_trees_with_modes_and_links() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("sub/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            from.join("sub/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("sub/run.sh", from.join("link")).unwrap();
        let to = dir.path().join("to");
        copy_tree(&from, &to).unwrap();
        let mode = std::fs::metadata(to.join("sub/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_link(to.join("link")).unwrap(),
            Path::new("sub/run.sh")
        );
    }
}
