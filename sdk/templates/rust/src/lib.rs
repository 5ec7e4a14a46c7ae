//! {{name}}: a Sluice plugin. It drops debug-level records, tags the others with
//! `"tag": "<config tag, or the plugin's name>"`, and rejects values that are not JSON
//! objects, so that they land in the dead-letter sink with the reason.

use sluice_sdk::json::Value;
use sluice_sdk::{Config, Output, Plugin, Record, Reject};

pub struct Tag {
    tag: String,
}

impl Plugin for Tag {
    fn init(config: &Config) -> Result<Self, String> {
        Ok(Tag { tag: config.get("tag").unwrap_or("{{name}}").to_owned() })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
        let mut value: Value = record.json()?;
        let Some(fields) = value.as_object_mut() else {
            return Err(Reject::new("value is not a JSON object"));
        };
        if fields.get("level").and_then(Value::as_str) == Some("debug") {
            return Ok(()); // dropped: no output
        }
        fields.insert("tag".into(), Value::from(self.tag.as_str()));
        out.emit_value(value.to_string());
        Ok(())
    }
}

sluice_sdk::export_plugin!(Tag);

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{TestRecord, run};

    use super::Tag;

    #[test]
    fn tags_drops_and_rejects() {
        let records = [
            TestRecord::value(r#"{"level":"info"}"#),
            TestRecord::value(r#"{"level":"debug"}"#),
            TestRecord::value("[1]"),
        ];
        let outcomes = run::<Tag>(&[("tag", "t")], &records).unwrap();
        assert_eq!(outcomes[0].as_ref().unwrap()[0].value_str(), r#"{"level":"info","tag":"t"}"#);
        assert!(outcomes[1].as_ref().unwrap().is_empty());
        assert_eq!(outcomes[2].as_ref().unwrap_err(), "value is not a JSON object");
    }
}
