//! The CodeBuild buildspec, version 0.2, as far as a build on the host can
//! honour it: `env` (variables, exported-variables, shell), the phases
//! install, pre_build, build and post_build (commands, finally, on-failure),
//! and `artifacts` (files globs, base-directory, discard-paths,
//! exclude-paths, secondary-artifacts by output artifact name). Parameter
//! Store and Secrets Manager variables cannot be resolved locally and are
//! refused; runtime-versions, cache and reports are ignored.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    pub variables: Vec<(String, String)>,
    pub exported_variables: Vec<String>,
    /// `sh` or `bash`.
    pub shell: String,
    /// In run order; phases the buildspec leaves out are absent.
    pub phases: Vec<Phase>,
    pub artifacts: Option<ArtifactSpec>,
    /// By identifier (the output artifact's name).
    pub secondary_artifacts: BTreeMap<String, ArtifactSpec>,
    /// Parts of the buildspec the local build ignores, to say so in the log.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// INSTALL, PRE_BUILD, BUILD or POST_BUILD.
    pub name: &'static str,
    pub commands: Vec<String>,
    pub finally: Vec<String>,
    /// `on-failure: CONTINUE`: a failure here does not skip later phases.
    pub continue_on_failure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactSpec {
    pub files: Vec<String>,
    pub base_directory: Option<String>,
    pub discard_paths: bool,
    pub exclude_paths: Vec<String>,
}

const PHASES: [(&str, &str); 4] = [
    ("install", "INSTALL"),
    ("pre_build", "PRE_BUILD"),
    ("build", "BUILD"),
    ("post_build", "POST_BUILD"),
];

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                scalar(item).ok_or_else(|| format!("Expected {what}[{i}] to be of string type"))
            })
            .collect(),
        Some(single) => scalar(single)
            .map(|s| vec![s])
            .ok_or_else(|| format!("Expected {what} to be a list of strings")),
    }
}

fn yes(value: Option<&Value>, what: &str) -> Result<bool, String> {
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.as_str() {
            "yes" | "true" => Ok(true),
            "no" | "false" => Ok(false),
            _ => Err(format!("{what} must be yes or no")),
        },
        Some(_) => Err(format!("{what} must be yes or no")),
    }
}

pub fn parse(text: &str) -> Result<BuildSpec, String> {
    let doc: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| format!("the buildspec is not valid YAML: {e}"))?;
    let doc = doc.as_object().ok_or("the buildspec must be a YAML map")?;
    let version = doc.get("version").and_then(scalar).unwrap_or_default();
    if version != "0.2" {
        return Err(format!(
            "buildspec version {version:?} is not supported: the local cloud runs version 0.2"
        ));
    }
    let mut ignored = Vec::new();
    for key in doc.keys() {
        match key.as_str() {
            "version" | "env" | "phases" | "artifacts" => {}
            "run-as" | "proxy" | "batch" | "reports" | "cache" => ignored.push(key.clone()),
            other => return Err(format!("unknown buildspec section {other:?}")),
        }
    }

    let mut variables = Vec::new();
    let mut exported_variables = Vec::new();
    let mut shell = "sh".to_owned();
    if let Some(env) = doc.get("env").filter(|v| !v.is_null()) {
        let env = env.as_object().ok_or("env must be a map")?;
        for (key, value) in env {
            match key.as_str() {
                "variables" => {
                    let map = value.as_object().ok_or("env.variables must be a map")?;
                    for (name, value) in map {
                        if !valid_variable_name(name) {
                            return Err(format!("env.variables: {name:?} is not a variable name"));
                        }
                        let value = scalar(value)
                            .ok_or_else(|| format!("env.variables.{name} must be a string"))?;
                        variables.push((name.clone(), value));
                    }
                }
                "exported-variables" => {
                    exported_variables = strings(Some(value), "env.exported-variables")?;
                    if let Some(bad) = exported_variables.iter().find(|n| !valid_variable_name(n)) {
                        return Err(format!(
                            "env.exported-variables: {bad:?} is not a variable name"
                        ));
                    }
                }
                "shell" => {
                    shell = scalar(value).unwrap_or_default();
                    if !matches!(shell.as_str(), "sh" | "bash") {
                        return Err(format!(
                            "env.shell {shell:?} is not supported on Linux: use sh or bash"
                        ));
                    }
                }
                "parameter-store" | "secrets-manager" => {
                    if value.as_object().is_some_and(|m| !m.is_empty()) {
                        return Err(format!(
                            "env.{key} cannot be resolved: the local cloud has no Parameter Store or Secrets Manager"
                        ));
                    }
                }
                "git-credential-helper" => ignored.push(format!("env.{key}")),
                other => return Err(format!("unknown env key {other:?}")),
            }
        }
    }

    let mut phases = Vec::new();
    if let Some(all) = doc.get("phases").filter(|v| !v.is_null()) {
        let all = all.as_object().ok_or("phases must be a map")?;
        if let Some(unknown) = all.keys().find(|k| !PHASES.iter().any(|(key, _)| key == k)) {
            return Err(format!(
                "unknown phase {unknown:?} (phases are install, pre_build, build and post_build)"
            ));
        }
        for (key, name) in PHASES {
            let Some(phase) = all.get(key).filter(|v| !v.is_null()) else {
                continue;
            };
            let phase = phase
                .as_object()
                .ok_or_else(|| format!("phases.{key} must be a map"))?;
            let mut continue_on_failure = false;
            for (field, value) in phase {
                match field.as_str() {
                    "commands" | "finally" => {}
                    "on-failure" => {
                        continue_on_failure = match scalar(value).as_deref() {
                            Some("ABORT") => false,
                            Some("CONTINUE") => true,
                            _ => {
                                return Err(format!(
                                    "phases.{key}.on-failure must be ABORT or CONTINUE"
                                ));
                            }
                        }
                    }
                    "runtime-versions" | "run-as" => ignored.push(format!("phases.{key}.{field}")),
                    other => return Err(format!("unknown key {other:?} in phases.{key}")),
                }
            }
            phases.push(Phase {
                name,
                commands: strings(phase.get("commands"), &format!("phases.{key}.commands"))?,
                finally: strings(phase.get("finally"), &format!("phases.{key}.finally"))?,
                continue_on_failure,
            });
        }
    }

    let mut artifacts = None;
    let mut secondary_artifacts = BTreeMap::new();
    if let Some(section) = doc.get("artifacts").filter(|v| !v.is_null()) {
        let section = section.as_object().ok_or("artifacts must be a map")?;
        if section.contains_key("files") {
            artifacts = Some(artifact_spec(section, "artifacts")?);
        }
        if let Some(secondary) = section.get("secondary-artifacts").filter(|v| !v.is_null()) {
            let secondary = secondary
                .as_object()
                .ok_or("artifacts.secondary-artifacts must be a map")?;
            for (id, spec) in secondary {
                let spec = spec
                    .as_object()
                    .ok_or_else(|| format!("artifacts.secondary-artifacts.{id} must be a map"))?;
                secondary_artifacts.insert(
                    id.clone(),
                    artifact_spec(spec, &format!("artifacts.secondary-artifacts.{id}"))?,
                );
            }
        }
    }
    Ok(BuildSpec {
        variables,
        exported_variables,
        shell,
        phases,
        artifacts,
        secondary_artifacts,
        ignored,
    })
}

fn artifact_spec(
    section: &serde_json::Map<String, Value>,
    what: &str,
) -> Result<ArtifactSpec, String> {
    let files = strings(section.get("files"), &format!("{what}.files"))?;
    if files.is_empty() {
        return Err(format!("{what}.files must name at least one file pattern"));
    }
    let base_directory = section
        .get("base-directory")
        .and_then(scalar)
        .filter(|b| !b.is_empty());
    if let Some(base) = &base_directory
        && !stays_inside(base)
    {
        return Err(format!(
            "{what}.base-directory {base:?} must be a relative path inside the source"
        ));
    }
    Ok(ArtifactSpec {
        files,
        base_directory,
        discard_paths: yes(
            section.get("discard-paths"),
            &format!("{what}.discard-paths"),
        )?,
        exclude_paths: strings(
            section.get("exclude-paths"),
            &format!("{what}.exclude-paths"),
        )?,
    })
}

fn valid_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A relative path without `..` that cannot leave the directory it is in.
pub fn stays_inside(path: &str) -> bool {
    Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Whether `path` (relative, '/'-separated) matches `pattern`: `**` spans
/// any number of directories, `*` and `?` stay within one name.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern
        .trim_start_matches("./")
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let path: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match_segments(&pattern, &path)
}

fn match_segments(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| match_segments(rest, &path[skip..])),
        Some((first, rest)) => path.split_first().is_some_and(|(name, tail)| {
            match_name(first.as_bytes(), name.as_bytes()) && match_segments(rest, tail)
        }),
    }
}

fn match_name(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| match_name(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && match_name(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && match_name(rest, &name[1..]),
    }
}

/// The files an artifact takes from `source`: (file, where it goes in the
/// artifact). Err when nothing matches, as CodeBuild fails then.
pub fn collect(source: &Path, spec: &ArtifactSpec) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    let base = match &spec.base_directory {
        Some(base) => source.join(base),
        None => source.to_path_buf(),
    };
    let mut files = Vec::new();
    if base.is_dir() {
        walk(&base, &base, &mut files)
            .map_err(|e| format!("cannot read {}: {e}", base.display()))?;
    }
    files.sort();
    let mut chosen = Vec::new();
    for relative in files {
        let text = relative.to_string_lossy().replace('\\', "/");
        let included = spec.files.iter().any(|p| glob_match(p, &text));
        let excluded = spec.exclude_paths.iter().any(|p| glob_match(p, &text));
        if included && !excluded {
            let destination = if spec.discard_paths {
                PathBuf::from(relative.file_name().unwrap_or_default())
            } else {
                relative.clone()
            };
            chosen.push((base.join(&relative), destination));
        }
    }
    if chosen.is_empty() {
        return Err(format!(
            "CLIENT_ERROR: no matching artifact paths found (files {:?} in {})",
            spec.files,
            spec.base_directory.as_deref().unwrap_or(".")
        ));
    }
    Ok(chosen)
}

/// Regular files under `dir` (symlinks to files count; symlinked
/// directories are not followed), relative to `root`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_buildspec() {
        let spec = parse(
            r#"
version: 0.2
env:
  shell: bash
  variables:
    GREETING: hello
    COUNT: 3
  exported-variables:
    - IMAGE_TAG
phases:
  install:
    runtime-versions:
      nodejs: 20
    commands:
      - echo install
  build:
    on-failure: CONTINUE
    commands:
      - echo one
      - |
        echo two
        echo three
    finally:
      - echo finally
  post_build:
    commands: echo post
artifacts:
  files:
    - '**/*'
  base-directory: out
  discard-paths: yes
  secondary-artifacts:
    Extra:
      files: [a.txt]
reports:
  r: {}
"#,
        )
        .unwrap();
        assert_eq!(spec.shell, "bash");
        assert_eq!(
            spec.variables,
            vec![
                ("COUNT".into(), "3".into()),
                ("GREETING".into(), "hello".into())
            ]
        );
        assert_eq!(spec.exported_variables, ["IMAGE_TAG"]);
        let names: Vec<&str> = spec.phases.iter().map(|p| p.name).collect();
        assert_eq!(names, ["INSTALL", "BUILD", "POST_BUILD"]);
        assert_eq!(spec.phases[1].commands[1], "echo two\necho three\n");
        assert_eq!(spec.phases[1].finally, ["echo finally"]);
        assert!(spec.phases[1].continue_on_failure);
        assert_eq!(spec.phases[2].commands, ["echo post"]);
        let artifacts = spec.artifacts.unwrap();
        assert_eq!(artifacts.base_directory.as_deref(), Some("out"));
        assert!(artifacts.discard_paths);
        assert_eq!(spec.secondary_artifacts["Extra"].files, ["a.txt"]);
        assert_eq!(spec.ignored, ["reports", "phases.install.runtime-versions"]);
    }

    #[test]
    fn bad_buildspecs_say_why() {
        for (text, why) in [
            ("version: 0.1\nphases: {}", "version"),
            (
                "version: 0.2\nphases:\n  deploy:\n    commands: [x]",
                "unknown phase",
            ),
            (
                "version: 0.2\nphases:\n  build:\n    commands:\n      - echo: hi",
                "string type",
            ),
            (
                "version: 0.2\nenv:\n  secrets-manager:\n    A: b",
                "Secrets Manager",
            ),
            ("version: 0.2\nenv:\n  shell: powershell.exe", "shell"),
            (
                "version: 0.2\nartifacts:\n  files: ['*']\n  base-directory: ../up",
                "base-directory",
            ),
            (
                "version: 0.2\nphases:\n  build:\n    on-failure: RETRY",
                "ABORT or CONTINUE",
            ),
            ("[1, 2]", "map"),
            ("version: 0.2\nphases: [", "YAML"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("**/*", "a"));
        assert!(glob_match("**/*", "a/b/c.txt"));
        assert!(glob_match("site/**/*", "site/index.html"));
        assert!(glob_match("site/**/*", "site/css/a.css"));
        assert!(!glob_match("site/**/*", "other/index.html"));
        assert!(glob_match("*.json", "taskdef.json"));
        assert!(!glob_match("*.json", "dir/taskdef.json"));
        assert!(glob_match("**/*.json", "dir/taskdef.json"));
        assert!(glob_match("./imageDetail.json", "imageDetail.json"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("**", "x/y"));
    }

    #[test]
    fn collects_files_by_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("site/css")).unwrap();
        std::fs::write(root.join("site/index.html"), "i").unwrap();
        std::fs::write(root.join("site/css/a.css"), "c").unwrap();
        std::fs::write(root.join("imageDetail.json"), "{}").unwrap();
        std::fs::write(root.join("notes.md"), "n").unwrap();
        let spec =
            |files: &[&str], base: Option<&str>, discard: bool, exclude: &[&str]| ArtifactSpec {
                files: files.iter().map(|s| s.to_string()).collect(),
                base_directory: base.map(str::to_owned),
                discard_paths: discard,
                exclude_paths: exclude.iter().map(|s| s.to_string()).collect(),
            };
        let dests = |spec: &ArtifactSpec| -> Vec<String> {
            collect(root, spec)
                .unwrap()
                .into_iter()
                .map(|(_, d)| d.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            dests(&spec(&["site/**/*", "imageDetail.json"], None, false, &[])),
            ["imageDetail.json", "site/css/a.css", "site/index.html"]
        );
        assert_eq!(
            dests(&spec(&["**/*"], Some("site"), false, &["css/**/*"])),
            ["index.html"]
        );
        assert_eq!(
            dests(&spec(&["site/**/*"], None, true, &[])),
            ["a.css", "index.html"]
        );
        let err = collect(root, &spec(&["dist/**/*"], None, false, &[])).unwrap_err();
        assert!(err.contains("no matching artifact paths"), "{err}");
    }
}
