//! Printing API answers as aligned tables for people or as JSON for scripts.

use super::client::CliError;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

pub(super) fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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
    pub(super) fn json(value: &Value) -> Result<(), CliError> {
        println!(
            "{}",
            serde_json::to_string_pretty(value).map_err(|e| CliError::Local(e.into()))?
        );
        Ok(())
    }

    pub fn print_environments(self, list: &Value) -> Result<(), CliError> {
        if self == Output::Json {
            return Self::json(list);
        }
        let rows: Vec<Vec<String>> = list["environments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                vec![
                    text(&e["name"]),
                    text(&e["platform"]),
                    text(&e["region"]),
                    text(&e["created_by"]),
                    text(&e["created_at"]),
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

    pub fn print_environment(self, env: &Value) -> Result<(), CliError> {
        if self == Output::Json {
            return Self::json(env);
        }
        let mut rows = vec![
            vec!["name".to_owned(), text(&env["name"])],
            vec!["platform".to_owned(), text(&env["platform"])],
            vec!["region".to_owned(), text(&env["region"])],
        ];
        if let Some(resources) = env["resources"].as_object() {
            for (key, value) in resources {
                rows.push(vec![key.replace('_', " "), text(value)]);
            }
        }
        if let Some(config) = env["deployment_group"]["deployment_config"].as_str() {
            rows.push(vec!["deployment config".to_owned(), config.to_owned()]);
        }
        if let Some(source) = env["source"].as_object() {
            rows.push(vec![
                "source".to_owned(),
                format!("{} ({})", text(&source["repo"]), text(&source["branch"])),
            ]);
        }
        if let Some(set) = env["webhook_secret_set"].as_bool() {
            rows.push(vec![
                "webhook secret".to_owned(),
                if set { "set" } else { "-" }.to_owned(),
            ]);
        }
        if let Some(required) = env["approval_policy"]["required"].as_i64() {
            let own = if env["approval_policy"]["allow_self_approval"] == true {
                ", the author's own counts"
            } else {
                ", not the author's own"
            };
            rows.push(vec![
                "approvals".to_owned(),
                format!("{required} required{own}"),
            ]);
        }
        rows.push(vec!["created by".to_owned(), text(&env["created_by"])]);
        rows.push(vec!["created".to_owned(), text(&env["created_at"])]);
        print!("{}", table(&["FIELD", "VALUE"], &rows));
        Ok(())
    }

    pub fn print_releases(self, page: &Value, environment: &str) -> Result<(), CliError> {
        if self == Output::Json {
            return Self::json(page);
        }
        let rows: Vec<Vec<String>> = page["releases"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let commit = r["commit"]
                    .as_str()
                    .map_or("-".to_owned(), |c| c.chars().take(12).collect());
                vec![
                    text(&r["id"]),
                    text(&r["version"]),
                    text(&r["image"]),
                    commit,
                    text(&r["author"]),
                    text(&r["created_at"]),
                    text(&r["message"]),
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
        if let Some(next) = page["next"].as_str() {
            eprintln!("more: switchyard releases {environment} --before {next}");
        }
        Ok(())
    }

    pub fn print_users(self, list: &Value) -> Result<(), CliError> {
        if self == Output::Json {
            return Self::json(list);
        }
        let rows: Vec<Vec<String>> = list["users"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| vec![text(&u["name"]), text(&u["role"]), text(&u["created_at"])])
            .collect();
        print!("{}", table(&["NAME", "ROLE", "CREATED"], &rows));
        Ok(())
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
