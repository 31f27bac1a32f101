//! Variable references in action configurations: `#{variables.NAME}` (the
//! pipeline's variables), `#{codepipeline.PipelineExecutionId}` and
//! `#{NAMESPACE.NAME}` (output variables of the action declared with that
//! namespace, from its latest successful run in this execution).

use super::super::state::PipelineExecution;
use std::collections::BTreeMap;

/// Resolves every value; an unknown reference fails the action, as in AWS.
pub fn resolve(
    configuration: &BTreeMap<String, String>,
    execution: &PipelineExecution,
) -> Result<BTreeMap<String, String>, String> {
    configuration
        .iter()
        .map(|(key, value)| {
            substitute(value, |namespace, name| lookup(execution, namespace, name))
                .map(|resolved| (key.clone(), resolved))
                .map_err(|reference| {
                    format!(
                        "The action configuration {key} refers to #{{{reference}}}, which has no value in this execution"
                    )
                })
        })
        .collect()
}

fn lookup(execution: &PipelineExecution, namespace: &str, name: &str) -> Option<String> {
    match namespace {
        "variables" => execution
            .variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone()),
        "codepipeline" if name == "PipelineExecutionId" => Some(execution.id.clone()),
        _ => {
            let (stage, action) = execution.stages.iter().find_map(|stage| {
                stage
                    .actions
                    .iter()
                    .find(|a| a.namespace.as_deref() == Some(namespace))
                    .map(|a| (stage.name.as_str(), a.name.as_str()))
            })?;
            execution
                .actions
                .iter()
                .rev()
                .find(|r| r.stage == stage && r.action == action && r.status == "Succeeded")
                .and_then(|r| r.output_variables.get(name).cloned())
        }
    }
}

/// Replaces each `#{namespace.name}`; Err(the reference) for one without a value.
fn substitute(text: &str, lookup: impl Fn(&str, &str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let reference = &after[..end];
        match reference.split_once('.') {
            Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => {
                let value = lookup(namespace, name).ok_or_else(|| reference.to_owned())?;
                out.push_str(&value);
            }
            _ => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_references() {
        let lookup = |ns: &str, name: &str| match (ns, name) {
            ("variables", "env") => Some("prod".to_owned()),
            ("Src", "CommitId") => Some("abc".to_owned()),
            _ => None,
        };
        assert_eq!(
            substitute("deploy-#{variables.env}-#{Src.CommitId}", lookup).unwrap(),
            "deploy-prod-abc"
        );
        assert_eq!(
            substitute("plain #{x} #{", lookup).unwrap(),
            "plain #{x} #{"
        );
        assert_eq!(
            substitute("#{variables.nope}", lookup).unwrap_err(),
            "variables.nope"
        );
    }
}
