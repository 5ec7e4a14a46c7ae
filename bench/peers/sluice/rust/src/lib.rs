//! The benchmark's transform ([`bench_transform::transform`]) as a Sluice plugin: what is
//! not a JSON object is rejected, to the dead-letter sink.

use sluice_sdk::{Config, Output, Plugin, Record, Reject};

pub struct Transform;

impl Plugin for Transform {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Transform)
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
        if let Some(value) = bench_transform::transform(record.value().unwrap_or_default())? {
            out.emit_value(value);
        }
        Ok(())
    }
}

sluice_sdk::export_plugin!(Transform);
