//! What a candidate task definition changes against the live one, field by
//! field, as a JSON structure and as a unified text (`-` live, `+`
//! candidate, as ecspresso's `diff` prints). Secrets are compared by name
//! and source but shown by name only.

use crate::task_definition::{
    ContainerDefinition, EnvironmentVariable, HealthCheck, ImageParts, PortMapping, TaskDefinition,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskDefinitionDiff {
    pub task_cpu: Option<TextChange>,
    pub task_memory: Option<TextChange>,
    /// Containers only the candidate has, with their image.
    pub containers_added: Vec<ContainerSummary>,
    /// Containers only the live definition has.
    pub containers_removed: Vec<ContainerSummary>,
    /// Containers both have that differ, in the candidate's order.
    pub containers: Vec<ContainerDiff>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerSummary {
    pub name: String,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerDiff {
    pub name: String,
    pub image: Option<ImageChange>,
    pub environment: EnvironmentDiff,
    pub secrets: SecretsDiff,
    pub command: Option<WordsChange>,
    pub entry_point: Option<WordsChange>,
    pub port_mappings: Option<PortsChange>,
    pub cpu: Option<NumberChange>,
    pub memory: Option<NumberChange>,
    pub memory_reservation: Option<NumberChange>,
    pub health_check: Option<HealthCheckChange>,
    pub essential: Option<FlagChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageChange {
    pub before: ImageParts,
    pub after: ImageParts,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvironmentDiff {
    pub added: Vec<EnvironmentVariable>,
    pub removed: Vec<EnvironmentVariable>,
    pub changed: Vec<ValueChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueChange {
    pub name: String,
    pub before: String,
    pub after: String,
}

/// Secret names; `changed` are those whose source (`valueFrom`) moved.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretsDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TextChange {
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WordsChange {
    pub before: Vec<String>,
    pub after: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortsChange {
    pub before: Vec<PortMapping>,
    pub after: Vec<PortMapping>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumberChange {
    pub before: Option<i32>,
    pub after: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthCheckChange {
    pub before: Option<HealthCheck>,
    pub after: Option<HealthCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlagChange {
    pub before: Option<bool>,
    pub after: Option<bool>,
}

/// `Some((before, after))` when they differ.
fn changed<T: PartialEq + Clone>(before: &T, after: &T) -> Option<(T, T)> {
    (before != after).then(|| (before.clone(), after.clone()))
}

impl TaskDefinitionDiff {
    pub fn between(live: &TaskDefinition, candidate: &TaskDefinition) -> TaskDefinitionDiff {
        let summary = |c: &ContainerDefinition| ContainerSummary {
            name: c.name.clone(),
            image: c.image.clone(),
        };
        TaskDefinitionDiff {
            task_cpu: changed(&live.cpu, &candidate.cpu)
                .map(|(before, after)| TextChange { before, after }),
            task_memory: changed(&live.memory, &candidate.memory)
                .map(|(before, after)| TextChange { before, after }),
            containers_added: candidate
                .container_definitions
                .iter()
                .filter(|c| live.container(&c.name).is_none())
                .map(summary)
                .collect(),
            containers_removed: live
                .container_definitions
                .iter()
                .filter(|c| candidate.container(&c.name).is_none())
                .map(summary)
                .collect(),
            containers: candidate
                .container_definitions
                .iter()
                .filter_map(|after| {
                    Some(ContainerDiff::between(live.container(&after.name)?, after))
                })
                .filter(|diff| !diff.is_empty())
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.task_cpu.is_none()
            && self.task_memory.is_none()
            && self.containers_added.is_empty()
            && self.containers_removed.is_empty()
            && self.containers.is_empty()
    }

    /// The unified text: `-` lines say what is live, `+` lines what the
    /// candidate would make live, under a `@@ container NAME @@` header.
    pub fn unified(&self, live_label: &str, candidate_label: &str) -> String {
        let mut out = format!("--- {live_label}\n+++ {candidate_label}\n");
        if self.is_empty() {
            out.push_str("  (no changes)\n");
            return out;
        }
        if let Some(c) = &self.task_cpu {
            pair(&mut out, "cpu", &c.before, &c.after, |v| v.clone());
        }
        if let Some(c) = &self.task_memory {
            pair(&mut out, "memory", &c.before, &c.after, |v| v.clone());
        }
        for c in &self.containers_removed {
            let _ = writeln!(out, "-container {} ({})", c.name, c.image);
        }
        for c in &self.containers_added {
            let _ = writeln!(out, "+container {} ({})", c.name, c.image);
        }
        for container in &self.containers {
            container.write_unified(&mut out);
        }
        out
    }
}

/// `-label: before` and `+label: after` lines, each only when present.
fn pair<T>(
    out: &mut String,
    label: &str,
    before: &Option<T>,
    after: &Option<T>,
    show: impl Fn(&T) -> String,
) {
    if let Some(before) = before {
        let _ = writeln!(out, "-{label}: {}", show(before));
    }
    if let Some(after) = after {
        let _ = writeln!(out, "+{label}: {}", show(after));
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl ContainerDiff {
    pub fn between(live: &ContainerDefinition, candidate: &ContainerDefinition) -> ContainerDiff {
        let words = |b: &Vec<String>, a: &Vec<String>| {
            changed(b, a).map(|(before, after)| WordsChange { before, after })
        };
        let number = |b: &Option<i32>, a: &Option<i32>| {
            changed(b, a).map(|(before, after)| NumberChange { before, after })
        };
        ContainerDiff {
            name: candidate.name.clone(),
            image: (live.image != candidate.image).then(|| ImageChange {
                before: ImageParts::split(&live.image),
                after: ImageParts::split(&candidate.image),
            }),
            environment: environment_diff(&live.environment, &candidate.environment),
            secrets: secrets_diff(live, candidate),
            command: words(&live.command, &candidate.command),
            entry_point: words(&live.entry_point, &candidate.entry_point),
            port_mappings: changed(&live.port_mappings, &candidate.port_mappings)
                .map(|(before, after)| PortsChange { before, after }),
            cpu: number(&live.cpu, &candidate.cpu),
            memory: number(&live.memory, &candidate.memory),
            memory_reservation: number(&live.memory_reservation, &candidate.memory_reservation),
            health_check: changed(&live.health_check, &candidate.health_check)
                .map(|(before, after)| HealthCheckChange { before, after }),
            essential: changed(&live.essential, &candidate.essential)
                .map(|(before, after)| FlagChange { before, after }),
        }
    }

    pub fn is_empty(&self) -> bool {
        let unchanged = ContainerDiff {
            name: self.name.clone(),
            ..ContainerDiff::default()
        };
        *self == unchanged
    }

    fn write_unified(&self, out: &mut String) {
        let _ = writeln!(out, "@@ container {} @@", self.name);
        if let Some(image) = &self.image {
            let _ = writeln!(out, "-image: {}\n+image: {}", image.before, image.after);
        }
        for v in &self.environment.removed {
            let _ = writeln!(out, "-env {}={}", v.name, v.value);
        }
        for v in &self.environment.changed {
            let _ = writeln!(
                out,
                "-env {}={}\n+env {}={}",
                v.name, v.before, v.name, v.after
            );
        }
        for v in &self.environment.added {
            let _ = writeln!(out, "+env {}={}", v.name, v.value);
        }
        for name in &self.secrets.removed {
            let _ = writeln!(out, "-secret {name}");
        }
        for name in &self.secrets.changed {
            let _ = writeln!(out, "-secret {name}\n+secret {name} (from a new source)");
        }
        for name in &self.secrets.added {
            let _ = writeln!(out, "+secret {name}");
        }
        let some = |v: &Vec<String>| Some(json(v));
        if let Some(c) = &self.command {
            pair(
                out,
                "command",
                &some(&c.before),
                &some(&c.after),
                String::clone,
            );
        }
        if let Some(c) = &self.entry_point {
            pair(
                out,
                "entryPoint",
                &some(&c.before),
                &some(&c.after),
                String::clone,
            );
        }
        if let Some(c) = &self.port_mappings {
            pair(out, "portMappings", &Some(&c.before), &Some(&c.after), json);
        }
        for (label, change) in [
            ("cpu", &self.cpu),
            ("memory", &self.memory),
            ("memoryReservation", &self.memory_reservation),
        ] {
            if let Some(c) = change {
                pair(out, label, &c.before, &c.after, i32::to_string);
            }
        }
        if let Some(c) = &self.health_check {
            pair(out, "healthCheck", &c.before, &c.after, json);
        }
        if let Some(c) = &self.essential {
            pair(out, "essential", &c.before, &c.after, bool::to_string);
        }
    }
}

fn environment_diff(
    live: &[EnvironmentVariable],
    candidate: &[EnvironmentVariable],
) -> EnvironmentDiff {
    let before: BTreeMap<&str, &str> = live
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    let after: BTreeMap<&str, &str> = candidate
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    let variable = |(name, value): (&&str, &&str)| EnvironmentVariable {
        name: (*name).to_owned(),
        value: (*value).to_owned(),
    };
    EnvironmentDiff {
        added: after
            .iter()
            .filter(|(n, _)| !before.contains_key(*n))
            .map(variable)
            .collect(),
        removed: before
            .iter()
            .filter(|(n, _)| !after.contains_key(*n))
            .map(variable)
            .collect(),
        changed: after
            .iter()
            .filter_map(|(name, value)| {
                let old = before.get(name)?;
                (old != value).then(|| ValueChange {
                    name: (*name).to_owned(),
                    before: (*old).to_owned(),
                    after: (*value).to_owned(),
                })
            })
            .collect(),
    }
}

fn secrets_diff(live: &ContainerDefinition, candidate: &ContainerDefinition) -> SecretsDiff {
    let before: BTreeMap<&str, &str> = live
        .secrets
        .iter()
        .map(|s| (s.name.as_str(), s.value_from.as_str()))
        .collect();
    let after: BTreeMap<&str, &str> = candidate
        .secrets
        .iter()
        .map(|s| (s.name.as_str(), s.value_from.as_str()))
        .collect();
    let names = |from: &BTreeMap<&str, &str>, without: &BTreeMap<&str, &str>| -> Vec<String> {
        from.keys()
            .filter(|n| !without.contains_key(*n))
            .map(|n| (*n).to_owned())
            .collect()
    };
    SecretsDiff {
        added: names(&after, &before),
        removed: names(&before, &after),
        changed: after
            .iter()
            .filter(|(name, source)| before.get(*name).is_some_and(|old| old != *source))
            .map(|(name, _)| (*name).to_owned())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task_definition::Secret;

    fn web(image: &str, env: &[(&str, &str)]) -> ContainerDefinition {
        ContainerDefinition {
            name: "web".into(),
            image: image.into(),
            environment: env
                .iter()
                .map(|(n, v)| EnvironmentVariable {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            essential: Some(true),
            ..ContainerDefinition::default()
        }
    }

    fn task(containers: Vec<ContainerDefinition>) -> TaskDefinition {
        TaskDefinition {
            cpu: Some("256".into()),
            memory: Some("512".into()),
            container_definitions: containers,
        }
    }

    #[test]
    fn identical_definitions_have_no_changes() {
        let live = task(vec![web("shop:1", &[("A", "1")])]);
        let diff = TaskDefinitionDiff::between(&live, &live.clone());
        assert!(diff.is_empty());
        assert_eq!(
            diff.unified("live", "v2"),
            "--- live\n+++ v2\n  (no changes)\n"
        );
    }

    #[test]
    fn an_image_change_is_split_into_repository_tag_and_digest() {
        let live = task(vec![web("registry:5000/shop:1", &[])]);
        let candidate = task(vec![web("registry:5000/shop:2@sha256:ab", &[])]);
        let image = TaskDefinitionDiff::between(&live, &candidate).containers[0]
            .image
            .clone()
            .unwrap();
        assert_eq!(image.before.repository, "registry:5000/shop");
        assert_eq!(image.before.tag.as_deref(), Some("1"));
        assert_eq!(image.after.tag.as_deref(), Some("2"));
        assert_eq!(image.after.digest.as_deref(), Some("sha256:ab"));
    }

    #[test]
    fn environment_variables_are_added_removed_and_changed_by_name() {
        let live = task(vec![web(
            "shop:1",
            &[("KEEP", "1"), ("GONE", "x"), ("MODE", "a")],
        )]);
        let candidate = task(vec![web(
            "shop:1",
            &[("MODE", "b"), ("KEEP", "1"), ("NEW", "y")],
        )]);
        let env = &TaskDefinitionDiff::between(&live, &candidate).containers[0].environment;
        assert_eq!(
            env.added,
            vec![EnvironmentVariable {
                name: "NEW".into(),
                value: "y".into()
            }]
        );
        assert_eq!(env.removed[0].name, "GONE");
        assert_eq!(
            env.changed,
            vec![ValueChange {
                name: "MODE".into(),
                before: "a".into(),
                after: "b".into()
            }]
        );
    }

    #[test]
    fn secrets_are_compared_by_source_but_shown_by_name_only() {
        let secret = |name: &str, from: &str| Secret {
            name: name.into(),
            value_from: from.into(),
        };
        let mut live = web("shop:1", &[]);
        live.secrets = vec![secret("DB", "arn:old"), secret("OLD", "arn:o")];
        let mut candidate = web("shop:1", &[]);
        candidate.secrets = vec![secret("DB", "arn:new"), secret("API", "arn:a")];
        let diff = TaskDefinitionDiff::between(&task(vec![live]), &task(vec![candidate]));
        let secrets = &diff.containers[0].secrets;
        assert_eq!(
            (secrets.added.clone(), secrets.removed.clone()),
            (vec!["API".into()], vec!["OLD".into()])
        );
        assert_eq!(secrets.changed, vec!["DB".to_owned()]);
        let shown = format!(
            "{}{}",
            diff.unified("a", "b"),
            serde_json::to_string(&diff).unwrap()
        );
        assert!(!shown.contains("arn:"), "{shown}");
    }

    #[test]
    fn containers_added_and_removed_are_named_with_their_image() {
        let mut sidecar = web("envoy:1", &[]);
        sidecar.name = "proxy".into();
        let mut logger = web("fluent:1", &[]);
        logger.name = "log".into();
        let live = task(vec![web("shop:1", &[]), logger]);
        let candidate = task(vec![web("shop:1", &[]), sidecar]);
        let diff = TaskDefinitionDiff::between(&live, &candidate);
        assert_eq!(diff.containers_added[0].name, "proxy");
        assert_eq!(diff.containers_removed[0].image, "fluent:1");
        assert!(diff.containers.is_empty());
        let text = diff.unified("live", "next");
        assert!(text.contains("+container proxy (envoy:1)\n"), "{text}");
        assert!(text.contains("-container log (fluent:1)\n"), "{text}");
    }

    #[test]
    fn command_ports_resources_health_check_and_essential_are_compared() {
        let live = web("shop:1", &[]);
        let mut candidate = live.clone();
        candidate.command = vec!["serve".into(), "--fast".into()];
        candidate.entry_point = vec!["/bin/sh".into()];
        candidate.port_mappings = vec![PortMapping {
            container_port: Some(8080),
            ..PortMapping::default()
        }];
        candidate.cpu = Some(128);
        candidate.memory_reservation = Some(64);
        candidate.health_check = Some(HealthCheck {
            command: vec!["CMD".into(), "true".into()],
            ..HealthCheck::default()
        });
        candidate.essential = Some(false);
        let diff = ContainerDiff::between(&live, &candidate);
        assert_eq!(diff.command.as_ref().unwrap().after, ["serve", "--fast"]);
        assert!(diff.entry_point.is_some() && diff.port_mappings.is_some());
        assert_eq!(
            diff.cpu,
            Some(NumberChange {
                before: None,
                after: Some(128)
            })
        );
        assert!(diff.memory.is_none());
        assert_eq!(diff.memory_reservation.unwrap().after, Some(64));
        assert!(diff.health_check.unwrap().before.is_none());
        assert_eq!(
            diff.essential,
            Some(FlagChange {
                before: Some(true),
                after: Some(false)
            })
        );
    }

    #[test]
    fn the_unified_text_prints_live_with_minus_and_candidate_with_plus() {
        let mut live = task(vec![web("shop:1", &[("MODE", "a"), ("GONE", "x")])]);
        let mut candidate = task(vec![web("shop:2", &[("MODE", "b"), ("NEW", "y")])]);
        live.container_definitions[0].command = vec!["old".into()];
        candidate.container_definitions[0].command = vec!["new".into()];
        candidate.memory = Some("1024".into());
        let text = TaskDefinitionDiff::between(&live, &candidate).unified("live (v1)", "v2");
        assert_eq!(
            text,
            "--- live (v1)\n+++ v2\n-memory: 512\n+memory: 1024\n@@ container web @@\n\
             -image: shop:1\n+image: shop:2\n-env GONE=x\n-env MODE=a\n+env MODE=b\n+env NEW=y\n\
             -command: [\"old\"]\n+command: [\"new\"]\n"
        );
    }

    #[test]
    fn the_json_structure_round_trips_and_lists_only_changed_containers() {
        let mut other = web("db:1", &[]);
        other.name = "db".into();
        let live = task(vec![web("shop:1", &[]), other.clone()]);
        let candidate = task(vec![web("shop:2", &[("NEW", "1")]), other]);
        let diff = TaskDefinitionDiff::between(&live, &candidate);
        assert_eq!(diff.containers.len(), 1);
        let json = serde_json::to_string(&diff).unwrap();
        assert!(json.contains(r#""tag":"2""#), "{json}");
        let back: TaskDefinitionDiff = serde_json::from_str(&json).unwrap();
        assert_eq!(back, diff);
    }
}
