//! A plugin's place in a chain: its name, the config its `init` receives, and what it may
//! use beyond the host's defaults.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRef {
    /// The plugin's file stem in the plugins directory.
    pub name: String,
    /// Passed to the plugin's `init`. Nested tables flatten to dotted keys.
    #[serde(default)]
    pub config: toml::Table,
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
