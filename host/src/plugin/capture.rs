//! What `sluice plugin test --show` prints of a plugin's host calls: its log lines and
//! metric updates, as the host received them (after the log budget, escaped and cut).
//!
//! Captured on the thread that runs [`capturing`]: a plugin's calls run on the thread that
//! calls it (see `instance`), and so do the host functions it calls. Anywhere else
//! nothing is captured, for the cost of one thread-local check per host call.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Serialize;

use super::bindings::sluice::plugin::host::Level;

/// What the plugin asked of the host while [`capturing`] ran.
#[derive(Debug, Default, Serialize)]
pub struct Captured {
    /// The log lines of each plugin call, in order: a record the plugin failed on is run
    /// again, alone, and the last call is the one that decided it.
    pub calls: Vec<Vec<LogLine>>,
    /// Each counter's total.
    pub counters: BTreeMap<String, u64>,
    /// Each gauge's last value.
    pub gauges: BTreeMap<String, f64>,
}

/// One log line of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

thread_local! {
    static CAPTURE: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// Runs `f`, capturing what plugins called on this thread meanwhile.
pub fn capturing<R>(f: impl FnOnce() -> R) -> (R, Captured) {
    let outer = CAPTURE.with(|c| c.replace(Some(Captured::default())));
    let result = f();
    let captured = CAPTURE.with(|c| c.replace(outer)).unwrap_or_default();
    (result, captured)
}

fn with(f: impl FnOnce(&mut Captured)) {
    CAPTURE.with(|c| {
        if let Some(captured) = c.borrow_mut().as_mut() {
            f(captured)
        }
    })
}

/// A plugin call begins.
pub(super) fn call() {
    with(|c| c.calls.push(Vec::new()));
}

pub(super) fn log(level: Level, message: &str, fields: &[(impl AsRef<str>, impl AsRef<str>)]) {
    with(|c| {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        let fields = fields.iter().map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned())).collect();
        let line = LogLine { level, message: message.to_owned(), fields };
        match c.calls.last_mut() {
            Some(call) => call.push(line),
            None => c.calls.push(vec![line]),
        }
    })
}

pub(super) fn counter(name: &str, delta: u64) {
    with(|c| *c.counters.entry(name.to_owned()).or_default() += delta);
}

pub(super) fn gauge(name: &str, value: f64) {
    with(|c| {
        c.gauges.insert(name.to_owned(), value);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_happens_inside_capturing_on_this_thread_is_captured() {
        counter("before", 1);
        let ((), captured) = capturing(|| {
            call();
            log(Level::Info, "first", &[("k", "v")]);
            call();
            counter("seen", 2);
            counter("seen", 3);
            gauge("size", 1.0);
            gauge("size", 4.5);
            std::thread::spawn(|| counter("elsewhere", 1)).join().unwrap();
        });
        let line = LogLine { level: "info", message: "first".into(), fields: [("k".into(), "v".into())].into() };
        assert_eq!(captured.calls, [vec![line], vec![]]);
        assert_eq!(captured.counters, [("seen".to_owned(), 5)].into());
        assert_eq!(captured.gauges, [("size".to_owned(), 4.5)].into());
        counter("after", 1);
        assert_eq!(capturing(|| ()).1.counters.len(), 0);
    }
}
