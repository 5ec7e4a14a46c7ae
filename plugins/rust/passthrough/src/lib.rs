//! Forwards every record unchanged: the cheapest possible plugin, used to measure the
//! cost of the plugin boundary itself.

use sluice_sdk::{Config, Output, Plugin, Record, Reject};

pub struct Passthrough;

impl Plugin for Passthrough {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Passthrough)
    }

    fn process(&mut self, _record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
        out.forward();
        Ok(())
    }
}

sluice_sdk::export_plugin!(Passthrough);

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{TestRecord, run};

    use super::Passthrough;

    #[test]
    fn forwards_key_value_headers_and_timestamp() {
        let input = TestRecord {
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
            headers: vec![("a".into(), b"1".to_vec()), ("b".into(), vec![])],
            timestamp: Some(17),
        };
        let outcomes = run::<Passthrough>(&[], std::slice::from_ref(&input)).unwrap();
        let outputs = outcomes[0].as_ref().unwrap();
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs[0].record, input);
        assert_eq!(outputs[0].route, None);
    }
}
