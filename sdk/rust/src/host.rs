//! Logging and metrics through the host.
//!
//! Inside the sandbox these call the `sluice:plugin/host` imports. Natively (plugin unit
//! tests) there is no host: what the plugin logs and records is captured, for
//! [`crate::testing::captured`] to show (and logs go to stderr too), so the same plugin
//! code runs in both places.

#[cfg(target_arch = "wasm32")]
use crate::bindings::sluice::plugin::host;

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Writes a log line to the host's log, tagged with the plugin's name and version.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    #[cfg(target_arch = "wasm32")]
    {
        let level = match level {
            Level::Trace => host::Level::Trace,
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        host::log(level, message, &fields);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        eprintln!("{level:?} {message} {fields:?}");
        let fields = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        native::CAPTURED.with(|c| c.borrow_mut().logs.push((level, message.to_owned(), fields)));
    }
}

/// Adds `delta` to the counter `name`.
pub fn counter_add(name: &str, delta: u64) {
    #[cfg(target_arch = "wasm32")]
    host::counter_add(name, delta);
    #[cfg(not(target_arch = "wasm32"))]
    native::CAPTURED.with(|c| *c.borrow_mut().counters.entry(name.to_owned()).or_default() += delta);
}

/// Sets the gauge `name` to `value`.
pub fn gauge_set(name: &str, value: f64) {
    #[cfg(target_arch = "wasm32")]
    host::gauge_set(name, value);
    #[cfg(not(target_arch = "wasm32"))]
    native::CAPTURED.with(|c| {
        c.borrow_mut().gauges.insert(name.to_owned(), value);
    });
}

/// What a plugin run natively asked of the host (inside a component, nothing: it goes to
/// the host).
pub(crate) mod native {
    use std::cell::RefCell;

    use crate::testing::Captured;

    thread_local! {
        pub(crate) static CAPTURED: RefCell<Captured> = RefCell::default();
    }
}
