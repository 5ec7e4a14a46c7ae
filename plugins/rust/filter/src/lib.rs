//! Keeps records whose JSON field has a given value, and drops the others.
//!
//! Config: `field` (a field name, dotted path or JSON pointer) and `equals` (the value
//! to keep, compared as text: `"7"` matches both `7` and `"7"`). Records that are not
//! JSON are rejected, so that a schema change upstream shows up in the dead-letter sink
//! instead of silently emptying the output.

use sluice_sdk::json::text;
use sluice_sdk::{Config, Output, Plugin, Record, Reject};

pub struct Filter {
    field: String,
    equals: String,
}

impl Plugin for Filter {
    fn init(config: &Config) -> Result<Self, String> {
        Ok(Filter { field: config.require("field")?.to_owned(), equals: config.require("equals")?.to_owned() })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
        let keep = record.json_field(&self.field)?.is_some_and(|v| text(&v) == self.equals);
        if keep {
            out.forward();
        }
        Ok(())
    }
}

sluice_sdk::export_plugin!(Filter);

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{TestRecord, run};

    use super::Filter;

    #[test]
    fn keeps_only_matching_records() {
        let records = [
            TestRecord::value(r#"{"level":"error","n":1}"#),
            TestRecord::value(r#"{"level":"info","n":2}"#),
            TestRecord::value(r#"{"n":3}"#),
        ];
        let outcomes = run::<Filter>(&[("field", "level"), ("equals", "error")], &records).unwrap();
        let kept: Vec<usize> = outcomes.iter().map(|o| o.as_ref().unwrap().len()).collect();
        assert_eq!(kept, [1, 0, 0]);
        assert_eq!(outcomes[0].as_ref().unwrap()[0].record, records[0]);
    }

    #[test]
    fn compares_numbers_as_text_and_follows_paths() {
        let records = [TestRecord::value(r#"{"user":{"age":7}}"#), TestRecord::value(r#"{"user":{"age":8}}"#)];
        let outcomes = run::<Filter>(&[("field", "user.age"), ("equals", "7")], &records).unwrap();
        assert_eq!(outcomes[0].as_ref().unwrap().len(), 1);
        assert_eq!(outcomes[1].as_ref().unwrap().len(), 0);
    }

    #[test]
    fn rejects_records_that_are_not_json() {
        let outcomes = run::<Filter>(&[("field", "a"), ("equals", "b")], &[TestRecord::value("nope")]).unwrap();
        assert!(outcomes[0].as_ref().unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn missing_config_is_an_init_error() {
        let err = run::<Filter>(&[("field", "a")], &[]).unwrap_err();
        assert_eq!(err, "missing required config key `equals`");
    }
}
