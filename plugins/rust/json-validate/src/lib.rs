//! Passes records whose value is valid JSON and rejects the rest, with the parser's
//! reason, so that they land in the dead-letter sink.
//!
//! Config (optional): `require`, a comma-separated list of top-level fields that every
//! record must have.

use sluice_sdk::json::Value;
use sluice_sdk::{Config, Output, Plugin, Record, Reject};

pub struct JsonValidate {
    required: Vec<String>,
}

impl Plugin for JsonValidate {
    fn init(config: &Config) -> Result<Self, String> {
        let required = config.get("require").unwrap_or_default();
        Ok(JsonValidate {
            required: required.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned).collect(),
        })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
        let value: Value = record.json()?;
        if let Some(missing) = self.required.iter().find(|f| value.get(f.as_str()).is_none()) {
            return Err(Reject::new(format!("missing required field `{missing}`")));
        }
        out.forward();
        Ok(())
    }
}

sluice_sdk::export_plugin!(JsonValidate);

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{TestRecord, run};

    use super::JsonValidate;

    #[test]
    fn passes_json_and_rejects_the_rest_with_the_reason() {
        let records = [TestRecord::value(r#"{"id":1}"#), TestRecord::value("{oops"), TestRecord::default()];
        let outcomes = run::<JsonValidate>(&[], &records).unwrap();
        assert_eq!(outcomes[0].as_ref().unwrap()[0].record, records[0]);
        let reason = outcomes[1].as_ref().unwrap_err();
        assert!(reason.starts_with("value is not valid JSON: key must be a string at line 1 column 2"), "{reason}");
        assert_eq!(outcomes[2].as_ref().unwrap_err(), "record has no value");
    }

    #[test]
    fn enforces_required_fields() {
        let records = [TestRecord::value(r#"{"id":1,"level":"x"}"#), TestRecord::value(r#"{"id":1}"#)];
        let outcomes = run::<JsonValidate>(&[("require", "id, level")], &records).unwrap();
        assert!(outcomes[0].is_ok());
        assert_eq!(outcomes[1].as_ref().unwrap_err(), "missing required field `level`");
    }
}
