//! The rules between fields of the served OpenAPI document that utoipa's
//! attributes cannot say. The schema-only types the fields name are in
//! `switchyard_api::schema`.

/// The rules that tie one field to another, which utoipa's attributes
/// cannot say, added to the served document as JSON Schema `if`/`then`.
pub fn add_cross_field_rules(doc: &mut serde_json::Value) {
    use serde_json::json;
    let rules = [
        (
            "CreateEnvironment",
            json!([
                {
                    "if": {"required": ["ready_action_on_timeout"],
                           "properties": {"ready_action_on_timeout": {"const": "STOP_DEPLOYMENT"}}},
                    "then": {"required": ["ready_wait_minutes"],
                             "properties": {"ready_wait_minutes": {"type": "integer", "minimum": 1}}},
                },
                {
                    "if": {"required": ["ready_action_on_timeout"],
                           "properties": {"ready_action_on_timeout": {"const": "CONTINUE_DEPLOYMENT"}}},
                    "then": {"properties": {"ready_wait_minutes": {"enum": [0, null]}}},
                },
                {
                    // No action: a ready wait implies STOP_DEPLOYMENT, which needs a minute.
                    "if": {"properties": {"ready_action_on_timeout": {"type": "null"}}},
                    "then": {"properties": {"ready_wait_minutes": {"anyOf": [
                        {"type": "null"}, {"type": "integer", "minimum": 1}
                    ]}}},
                },
            ]),
        ),
        (
            "CreateEnvironment",
            json!([{
                "if": {"required": ["platform"], "properties": {"platform": {"const": "aws"}}},
                "then": {"required": ["region"], "properties": {"region": {"type": "string"}}},
            }]),
        ),
        (
            "CreateEnvironment",
            json!([{
                // Credentials from a profile are an aws environment's.
                "if": {"required": ["platform"], "properties": {"platform": {"const": "local"}}},
                "then": {"properties": {"aws_profile": {"type": "null"}}},
            }]),
        ),
        (
            "DecisionBody",
            json!([{
                // A rejection says why.
                "if": {"properties": {"decision": {"const": "reject"}}},
                "then": {"required": ["comment"],
                         "properties": {"comment": {"type": "string", "pattern": "\\S"}}},
            }]),
        ),
    ];
    // A stack takes the variables infra/ declares, except those the
    // environment sets.
    let stack_variables: serde_json::Map<String, serde_json::Value> =
        switchyard_core::provision::terraform::declared_variables()
            .iter()
            .filter(|d| {
                !switchyard_core::provision::terraform::FROM_ENVIRONMENT
                    .iter()
                    .any(|(name, _)| *name == d.name)
            })
            .map(|d| (d.name.clone(), json!({})))
            .collect();
    // Hooks: a function name for each hookable lifecycle event.
    let hooks: serde_json::Map<String, serde_json::Value> =
        switchyard_domain::environment::HOOKABLE_EVENTS
            .iter()
            .map(|event| {
                let function =
                    json!({"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]{1,140}$"});
                ((*event).to_owned(), function)
            })
            .collect();
    if let Some(schema) =
        doc["components"]["schemas"]["CreateEnvironment"]["properties"].get_mut("hooks")
    {
        schema["properties"] = serde_json::Value::Object(hooks);
        schema["additionalProperties"] = json!(false);
    }
    if let Some(variables) =
        doc["components"]["schemas"]["StackRequest"]["properties"].get_mut("variables")
    {
        variables["properties"] = serde_json::Value::Object(stack_variables);
        variables["additionalProperties"] = json!(false);
    }
    for (name, mut all_of) in rules {
        if let Some(schema) = doc["components"]["schemas"].get_mut(name) {
            match schema["allOf"].as_array_mut() {
                Some(rules) => rules.append(all_of.as_array_mut().unwrap()),
                None => schema["allOf"] = all_of,
            }
        }
    }
}
