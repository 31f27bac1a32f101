//! Secrets out of Terraform's output before it reaches a stack log.

use super::*;
use serde_json::{Map, Value};

/// Replaces secrets in text with `[redacted]`.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// Values shorter than this are not treated as secrets: scrubbing them
    /// would blank out ordinary words and numbers all over the log.
    const MIN_SECRET_LEN: usize = 4;

    pub fn add(&mut self, secret: &str) {
        if secret.len() >= Self::MIN_SECRET_LEN && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
            // Longest first, so a secret containing another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Every string (and number) inside a variable's value.
    pub fn add_value(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.add(s),
            Value::Number(n) => self.add(&n.to_string()),
            Value::Array(items) => items.iter().for_each(|v| self.add_value(v)),
            Value::Object(map) => map.values().for_each(|v| self.add_value(v)),
            Value::Bool(_) | Value::Null => {}
        }
    }

    /// The AWS credentials in this process's environment.
    pub fn add_aws_environment(&mut self) {
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
        ] {
            if let Ok(value) = std::env::var(name) {
                self.add(&value);
            }
        }
    }

    /// The values of the sensitive variables among these.
    pub fn add_sensitive_variables(&mut self, variables: &Map<String, Value>) {
        for (name, value) in variables {
            if declared_variables()
                .iter()
                .any(|d| &d.name == name && d.sensitive)
            {
                self.add_value(value);
            }
        }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        text
    }
}
