//! Upper-cases each record's value (a map). Values that are not UTF-8 are rejected.

use sluice_sdk::{Config, Output, Plugin, Record, Reject};

pub struct Uppercase;

impl Plugin for Uppercase {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Uppercase)
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
        out.emit_value(record.value_str()?.to_uppercase());
        Ok(())
    }
}

sluice_sdk::export_plugin!(Uppercase);

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{TestRecord, run};

    use super::Uppercase;

    #[test]
    fn upper_cases_values_and_keeps_the_rest() {
        let input = TestRecord {
            key: Some(b"id-1".to_vec()),
            headers: vec![("h".into(), b"x".to_vec())],
            ..TestRecord::value("héllo")
        };
        let outcomes = run::<Uppercase>(&[], &[input]).unwrap();
        let out = &outcomes[0].as_ref().unwrap()[0];
        assert_eq!(out.value_str(), "HÉLLO");
        assert_eq!(out.record.key.as_deref(), Some(&b"id-1"[..]));
        assert_eq!(out.record.headers, vec![("h".to_string(), b"x".to_vec())]);
    }

    #[test]
    fn rejects_values_that_are_not_text() {
        let outcomes = run::<Uppercase>(&[], &[TestRecord::value(vec![0xff, 0xfe])]).unwrap();
        let reason = outcomes[0].as_ref().unwrap_err();
        assert!(reason.contains("not UTF-8"), "{reason}");
    }
}
