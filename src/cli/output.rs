//! Printing API answers as aligned tables for people or as JSON for scripts.

use super::client::CliError;
use serde::Serialize;
use switchyard_api::environments::{EcsDeploymentSpec, Environment, EnvironmentList};
use switchyard_api::releases::ReleasePage;
use switchyard_api::users::UserList;
use switchyard_domain::environment::{AlarmSettings, FreezeWindow, MetricGateSettings};
use switchyard_domain::service_deployment::EcsDeploymentSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// A cell: the value, or `-` when there is none.
pub(super) fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// An ECS environment's strategy, bake time and gates, one row each.
fn ecs_deployment_rows(spec: &EcsDeploymentSpec) -> Vec<Vec<String>> {
    let settings = match EcsDeploymentSettings::parse(spec, "ecs_deployment") {
        Ok(settings) => settings,
        Err(e) => return vec![vec!["ecs deployment".to_owned(), e.to_string()]],
    };
    let gates: Vec<String> = settings.gates.iter().map(|g| g.to_string()).collect();
    vec![
        vec!["strategy".to_owned(), settings.strategy.to_string()],
        vec![
            "bake time".to_owned(),
            format!("{} min", settings.bake_time_minutes),
        ],
        vec![
            "gates".to_owned(),
            if gates.is_empty() {
                "-".to_owned()
            } else {
                gates.join("; ")
            },
        ],
    ]
}

/// Left-aligned columns separated by two spaces; cells keep one line.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| c.lines().next().unwrap_or("").to_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

impl Output {
    /// Pretty JSON with its keys sorted at every level, as `--output json`
    /// has always printed answers (a `serde_json::Value` keeps its keys
    /// sorted), so scripts see the same text whatever order a type has.
    pub(super) fn json(value: &impl Serialize) -> Result<(), CliError> {
        let sorted = serde_json::to_value(value).map_err(|e| CliError::Local(e.into()))?;
        println!(
            "{}",
            serde_json::to_string_pretty(&sorted).map_err(|e| CliError::Local(e.into()))?
        );
        Ok(())
    }

    pub fn print_environments(self, list: &EnvironmentList) -> Result<(), CliError> {
        if self == Output::Json {
            return Self::json(list);
        }
        let rows: Vec<Vec<String>> = list
            .environments
            .iter()
            .map(|e| {
                vec![
                    e.name.clone(),
                    e.platform.clone(),
                    or_dash(e.region.as_ref()),
                    e.created_by.clone(),
                    e.created_at.clone(),
                ]
            })
            .collect();
        print!(
            "{}",
            table(
                &["NAME", "PLATFORM", "REGION", "CREATED BY", "CREATED"],
                &rows
            )
        );
        Ok(())
    }

    pub fn print_environment(self, env: &Environment) -> Result<(), CliError> {
        if self == Output::Json {
            return Self::json(env);
        }
        let mut rows = vec![
            vec!["name".to_owned(), env.name.clone()],
            vec!["platform".to_owned(), env.platform.clone()],
            vec!["region".to_owned(), or_dash(env.region.as_ref())],
        ];
        let r = &env.resources;
        // In the order of their names, as the table has always listed them.
        for (key, value) in [
            ("cluster", &r.cluster),
            ("codedeploy application", &r.codedeploy_application),
            ("deployment group", &r.deployment_group),
            ("pipeline", &r.pipeline),
            ("prod listener arn", &r.prod_listener_arn),
            ("service", &r.service),
            ("test listener arn", &r.test_listener_arn),
        ] {
            rows.push(vec![key.to_owned(), or_dash(value.as_ref())]);
        }
        rows.push(vec!["controller".to_owned(), env.controller.clone()]);
        match &env.ecs_deployment {
            Some(ecs) => rows.extend(ecs_deployment_rows(ecs)),
            None => rows.push(vec![
                "deployment config".to_owned(),
                env.deployment_group.deployment_config.clone(),
            ]),
        }
        let alarms = AlarmSettings::parse(&env.alarms, AlarmSettings::default(), "alarms")
            .map_or_else(|e| e.to_string(), |a| a.to_string());
        rows.push(vec!["alarms".to_owned(), alarms]);
        let gate = MetricGateSettings::parse(
            &env.metric_gate,
            MetricGateSettings::default(),
            "metric_gate",
        )
        .map_or_else(|e| e.to_string(), |g| g.to_string());
        rows.push(vec!["metric gate".to_owned(), gate]);
        rows.push(vec!["freeze".to_owned(), freeze_line(env)]);
        for window in &env.freeze_windows {
            let line = FreezeWindow::parse(window, "freeze_windows")
                .map_or_else(|e| e.to_string(), |w| w.to_string());
            rows.push(vec!["freeze window".to_owned(), line]);
        }
        if let Some(source) = &env.source {
            rows.push(vec![
                "source".to_owned(),
                format!("{} ({})", source.repo, source.branch),
            ]);
        }
        rows.push(vec![
            "webhook secret".to_owned(),
            if env.webhook_secret_set { "set" } else { "-" }.to_owned(),
        ]);
        let policy = &env.approval_policy;
        let own = if policy.allow_self_approval {
            ", the author's own counts"
        } else {
            ", not the author's own"
        };
        rows.push(vec![
            "approvals".to_owned(),
            format!("{} required{own}", policy.required),
        ]);
        rows.push(vec!["created by".to_owned(), env.created_by.clone()]);
        rows.push(vec!["created".to_owned(), env.created_at.clone()]);
        print!("{}", table(&["FIELD", "VALUE"], &rows));
        Ok(())
    }

    pub fn print_releases(self, page: &ReleasePage, environment: &str) -> Result<(), CliError> {
        if self == Output::Json {
            return Self::json(page);
        }
        let rows: Vec<Vec<String>> = page
            .releases
            .iter()
            .map(|r| {
                let commit = r
                    .commit
                    .as_deref()
                    .map_or("-".to_owned(), |c| c.chars().take(12).collect());
                vec![
                    r.id.to_string(),
                    r.version.clone(),
                    r.image.clone(),
                    commit,
                    r.author.clone(),
                    r.created_at.clone(),
                    r.message.clone(),
                ]
            })
            .collect();
        print!(
            "{}",
            table(
                &[
                    "ID", "VERSION", "IMAGE", "COMMIT", "AUTHOR", "CREATED", "MESSAGE"
                ],
                &rows
            )
        );
        if let Some(next) = &page.next {
            eprintln!("more: switchyard releases {environment} --before {next}");
        }
        Ok(())
    }

    pub fn print_users(self, list: &UserList) -> Result<(), CliError> {
        if self == Output::Json {
            return Self::json(list);
        }
        let rows: Vec<Vec<String>> = list
            .users
            .iter()
            .map(|u| vec![u.name.clone(), u.role.clone(), u.created_at.clone()])
            .collect();
        print!("{}", table(&["NAME", "ROLE", "CREATED"], &rows));
        Ok(())
    }
}

/// "frozen until 2026-12-14T07:00:00Z (Mon 2026-12-14 08:00 Europe/Berlin): release freeze", or "open".
fn freeze_line(env: &Environment) -> String {
    let freeze = &env.freeze;
    match (&freeze.until, freeze.frozen) {
        (Some(until), true) => format!(
            "frozen until {until} ({}): {}",
            freeze.until_local.as_deref().unwrap_or("-"),
            freeze.reason.as_deref().unwrap_or("-"),
        ),
        _ => "open".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_keep_one_line_per_row() {
        let out = table(
            &["A", "LONGER"],
            &[
                vec!["xxxx".into(), "1\n2".into()],
                vec!["y".into(), "-".into()],
            ],
        );
        assert_eq!(out, "A     LONGER\nxxxx  1\ny     -\n");
    }
}
