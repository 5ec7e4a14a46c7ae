//! A plugin's place in a chain: its name, the config its `init` receives, and what it may
//! use beyond the host's defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRef {
    /// The plugin's file stem in the plugins directory.
    pub name: String,
    /// Passed to the plugin's `init`. Nested tables flatten to dotted keys.
    #[serde(default)]
    pub config: toml::Table,
    /// Keys of `[host] plugin_limits` this plugin gets other values for.
    #[serde(default)]
    pub limits: toml::Table,
    /// What happens to a record the plugin fails on (a trap, a deadline, a cap).
    #[serde(default)]
    pub on_failure: FailurePolicy,
    /// A hot-swapped version whose first this-many batches each have a failure is rolled
    /// back to the version it replaced; 0 never rolls back.
    #[serde(default = "default_rollback_after")]
    pub rollback_after: u32,
    /// Capabilities beyond the sandbox's defaults.
    #[serde(default)]
    pub grants: Grants,
}

fn default_rollback_after() -> u32 {
    3
}

/// What happens to a record a plugin fails on. A record the plugin *rejects* is its
/// verdict, not a failure, and always goes to the dead-letter sink.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FailurePolicy {
    /// To the dead-letter sink, with the reason.
    #[default]
    DeadLetter,
    /// Stop the pipeline without acknowledging the batch, so that nothing is lost and the
    /// record is read again after a restart.
    Fail,
    /// Drop it, counted in `sluice_plugin_records_skipped_total` and the status line.
    Skip,
}

/// Capabilities a plugin has only when its config grants them (see `docs/SECURITY.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Environment variables the plugin sees, by name, with the host's values.
    #[serde(default)]
    pub env: Vec<String>,
    /// Guest path → host directory, mounted read-only.
    #[serde(default)]
    pub read_dirs: BTreeMap<String, PathBuf>,
    /// The values of `env`, looked up when the config is loaded.
    #[serde(skip)]
    pub env_values: Vec<(String, String)>,
}

impl Grants {
    /// Looks the granted variables up with `lookup`, and checks the directories (whose
    /// paths are resolved already). Errors name the key within `grants`.
    pub(super) fn resolve(&mut self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), (String, String)> {
        for (i, name) in self.env.iter().enumerate() {
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err((format!("env[{i}]"), format!("`{name}` is not an environment variable name")));
            }
            let value = lookup(name)
                .ok_or_else(|| (format!("env[{i}]"), format!("environment variable `{name}` is not set")))?;
            self.env_values.push((name.clone(), value));
        }
        for (guest, host) in &self.read_dirs {
            let key = format!("read_dirs.\"{guest}\"");
            if !guest.starts_with('/') {
                return Err((key, "the path inside the plugin must be absolute, like \"/data\"".into()));
            }
            match std::fs::metadata(host) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err((key, format!("{} is not a directory", host.display()))),
                Err(e) => return Err((key, format!("cannot read {}: {e}", host.display()))),
            }
        }
        Ok(())
    }
}

/// A scalar in its TOML spelling (strings unquoted); `None` for arrays and tables.
pub(super) fn scalar_text(value: &toml::Value) -> Option<String> {
    Some(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) | toml::Value::Table(_) => return None,
    })
}

/// A plugin name is a file stem: no path separators, no leading dot.
pub fn is_plugin_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\'])
}

/// Turns a plugin's TOML config table into the key/value pairs its `init` receives:
/// scalars in their TOML spelling, nested tables as dotted keys, arrays of scalars joined
/// with commas.
pub fn flatten_plugin_config(table: &toml::Table) -> Result<Vec<(String, String)>, (String, String)> {
    fn walk(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) -> Result<(), (String, String)> {
        for (k, v) in table {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                toml::Value::Table(t) => walk(&key, t, out)?,
                toml::Value::Array(items) => {
                    let items: Option<Vec<String>> = items.iter().map(scalar_text).collect();
                    let items = items.ok_or_else(|| {
                        (key.clone(), "arrays in plugin config may hold only strings, numbers and booleans".to_owned())
                    })?;
                    out.push((key, items.join(",")));
                }
                scalar_value => out.push((key, scalar_text(scalar_value).expect("not a table or array"))),
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk("", table, &mut out)?;
    Ok(out)
}
