//! How switchyard runs Terraform: the server's flags, and the CLI config
//! of its own that every run gets (`TF_CLI_CONFIG_FILE`).

use super::*;
use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// How switchyard runs Terraform (the server's flags).
#[derive(Debug, Clone)]
pub struct TerraformConfig {
    /// The terraform binary; a bare name is looked up on PATH.
    pub binary: PathBuf,
    /// A filesystem mirror to install providers from instead of the registry
    /// (the folder holding `registry.terraform.io/...`).
    pub plugin_mirror: Option<PathBuf>,
    /// A JSON tfvars file every stack gets (its own variables override it).
    pub var_file: Option<PathBuf>,
}

impl Default for TerraformConfig {
    fn default() -> Self {
        TerraformConfig {
            binary: PathBuf::from("terraform"),
            plugin_mirror: None,
            var_file: None,
        }
    }
}

impl TerraformConfig {
    /// Checks the configuration once, at start: the mirror exists and holds
    /// providers, the variable file is a JSON object of declared variables.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(mirror) = &self.plugin_mirror {
            let providers = mirror_providers(mirror)?;
            if providers.is_empty() {
                bail!(
                    "the plugin mirror {} holds no providers (expected HOST/NAMESPACE/TYPE/... folders, e.g. registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64)",
                    mirror.display()
                );
            }
        }
        if let Some(file) = &self.var_file {
            let variables = read_var_file(file)?;
            check_variables(&variables, false)
                .map_err(|e| anyhow!("{}: {}: {}", file.display(), e.field, e.message))?;
        }
        Ok(())
    }
}

pub(super) fn read_var_file(file: &Path) -> anyhow::Result<Map<String, Value>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the Terraform variable file {}", file.display()))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => bail!(
            "{} is not a JSON object of Terraform variables (a .tfvars.json file)",
            file.display()
        ),
    }
}

/// The providers a filesystem mirror holds, as `HOST/NAMESPACE/TYPE`.
pub(super) fn mirror_providers(mirror: &Path) -> anyhow::Result<Vec<String>> {
    fn dirs(path: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                found.push((
                    entry.file_name().to_string_lossy().into_owned(),
                    entry.path(),
                ));
            }
        }
        found.sort();
        Ok(found)
    }
    let mut providers = Vec::new();
    for (host, host_dir) in dirs(mirror)
        .with_context(|| format!("cannot read the plugin mirror {}", mirror.display()))?
    {
        for (namespace, namespace_dir) in dirs(&host_dir)? {
            for (kind, _) in dirs(&namespace_dir)? {
                providers.push(format!("{host}/{namespace}/{kind}"));
            }
        }
    }
    Ok(providers)
}

/// Writes switchyard's Terraform CLI config (data dir/terraform/terraformrc)
/// and answers its path. The user's own CLI config is never touched.
pub fn write_cli_config(data_dir: &Path, config: &TerraformConfig) -> anyhow::Result<PathBuf> {
    let dir = data_dir.join("terraform");
    let cache = dir.join("plugin-cache");
    std::fs::create_dir_all(&cache)?;
    let mut text = String::from(
        "# Written by switchyard for its own Terraform runs (TF_CLI_CONFIG_FILE); rewritten every run.\n",
    );
    text.push_str(&format!("plugin_cache_dir   = {}\n", hcl_string(&cache)));
    text.push_str("disable_checkpoint = true\n");
    if let Some(mirror) = &config.plugin_mirror {
        let providers = mirror_providers(mirror)?;
        let list = providers
            .iter()
            .map(|p| hcl_string(Path::new(p)))
            .collect::<Vec<_>>()
            .join(", ");
        text.push_str(&format!(
            "\nprovider_installation {{\n  filesystem_mirror {{\n    path    = {}\n    include = [{list}]\n  }}\n  direct {{\n    exclude = [{list}]\n  }}\n}}\n",
            hcl_string(mirror)
        ));
    }
    let path = dir.join("terraformrc");
    write_private(&path, text.as_bytes())?;
    Ok(path)
}

/// A quoted HCL string: JSON escapes, and no template sequences.
pub(super) fn hcl_string(path: &Path) -> String {
    let quoted = serde_json::to_string(&path.to_string_lossy()).unwrap_or_default();
    quoted.replace("${", "$${").replace("%{", "%%{")
}
