//! The `sluice:plugin/host` imports: what a plugin may ask of the host.

use std::fmt;

use super::bindings::sluice::plugin::host::{Host, Level};
use super::instance::InstanceState;

/// A plugin's extra log fields, shown as `k=v k=v`.
struct Fields<'a>(&'a [(String, String)]);

impl fmt::Display for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            write!(f, "{}{k}={v:?}", if i == 0 { "" } else { " " })?;
        }
        Ok(())
    }
}

impl Host for InstanceState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let label = &self.label;
        let fields = Fields(&fields);
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "sluice::plugin", $level, plugin = %label.name, version = %label.version, pipeline = %label.pipeline, fields = %fields, "{message}")
            };
        }
        match level {
            Level::Trace => emit!(tracing::Level::TRACE),
            Level::Debug => emit!(tracing::Level::DEBUG),
            Level::Info => emit!(tracing::Level::INFO),
            Level::Warn => emit!(tracing::Level::WARN),
            Level::Error => emit!(tracing::Level::ERROR),
        }
    }

    fn counter_add(&mut self, name: String, delta: u64) {
        let l = &self.label;
        metrics::counter!(name, "plugin" => l.name.clone(), "pipeline" => l.pipeline.clone()).increment(delta);
    }

    fn gauge_set(&mut self, name: String, value: f64) {
        let l = &self.label;
        metrics::gauge!(name, "plugin" => l.name.clone(), "pipeline" => l.pipeline.clone()).set(value);
    }
}
