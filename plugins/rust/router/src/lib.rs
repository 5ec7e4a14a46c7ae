//! Routes each record by the value of a JSON field, fanning out to several routes.
//!
//! Config: `field` (a field name, dotted path or JSON pointer) and one `map.<value>`
//! entry per routed value, naming one route or several separated by commas:
//!
//! ```toml
//! config = { field = "level", map = { error = "errors,alerts", warn = "alerts" } }
//! ```
//!
//! A record is emitted once per route its value maps to; a record whose value is not
//! mapped (or that lacks the field) goes down the pipeline's default route.

use std::collections::HashMap;

use sluice_sdk::json::text;
use sluice_sdk::{Config, Output, Plugin, Record, Reject};

pub struct Router {
    field: String,
    routes: HashMap<String, Vec<String>>,
}

impl Plugin for Router {
    fn init(config: &Config) -> Result<Self, String> {
        let field = config.require("field")?.to_owned();
        let mut routes = HashMap::new();
        for (key, value) in config.iter() {
            if let Some(matched) = key.strip_prefix("map.") {
                let names: Vec<String> =
                    value.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect();
                if names.is_empty() {
                    return Err(format!("config key `{key}` names no route"));
                }
                routes.insert(matched.to_owned(), names);
            } else if key != "field" {
                return Err(format!("unknown config key `{key}` (expected `field` and `map.<value>` entries)"));
            }
        }
        if routes.is_empty() {
            return Err("no `map.<value>` entries: nothing would be routed".into());
        }
        Ok(Router { field, routes })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
        let value = record.json_field(&self.field)?;
        match value.and_then(|v| self.routes.get(text(&v).as_ref())) {
            Some(routes) => routes.iter().for_each(|route| out.forward_to(route)),
            None => out.forward(),
        }
        Ok(())
    }
}

sluice_sdk::export_plugin!(Router);

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{TestRecord, run};

    use super::Router;

    const CONFIG: &[(&str, &str)] = &[("field", "level"), ("map.error", "errors, alerts"), ("map.warn", "alerts")];

    fn routes_of(value: &str) -> Vec<Option<String>> {
        let outcomes = run::<Router>(CONFIG, &[TestRecord::value(value)]).unwrap();
        outcomes[0].as_ref().unwrap().iter().map(|o| o.route.clone()).collect()
    }

    #[test]
    fn fans_out_to_every_mapped_route() {
        assert_eq!(routes_of(r#"{"level":"error"}"#), [Some("errors".into()), Some("alerts".into())]);
        assert_eq!(routes_of(r#"{"level":"warn"}"#), [Some("alerts".into())]);
    }

    #[test]
    fn unmapped_or_missing_values_take_the_default_route() {
        assert_eq!(routes_of(r#"{"level":"info"}"#), [None]);
        assert_eq!(routes_of(r#"{"other":1}"#), [None]);
    }

    #[test]
    fn config_without_routes_is_refused() {
        let err = run::<Router>(&[("field", "level")], &[]).unwrap_err();
        assert!(err.contains("no `map.<value>` entries"), "{err}");
        let err = run::<Router>(&[("field", "level"), ("mapp.x", "y")], &[]).unwrap_err();
        assert!(err.contains("unknown config key `mapp.x`"), "{err}");
    }
}
