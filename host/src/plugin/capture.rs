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

/// What the plugin asked of the host in each of its calls while [`capturing`] ran: a
/// record the plugin fails on is run again, alone, so a record may have several, and the
/// last is the one that decided it. What `init` asks is not captured.
#[derive(Debug, Default)]
pub struct Captured {
    pub calls: Vec<Call>,
}

/// One `process` call's log lines and metric updates, and whether it succeeded (its
/// result was used).
#[derive(Debug, Default, PartialEq)]
pub struct Call {
    pub logs: Vec<LogLine>,
    /// Each counter's total.
    pub counters: BTreeMap<String, u64>,
    /// Each gauge's last value.
    pub gauges: BTreeMap<String, f64>,
    /// `None` while the call runs.
    pub succeeded: Option<bool>,
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

/// Runs `f` on the call under way, if there is one and something is capturing.
fn with(f: impl FnOnce(&mut Call)) {
    CAPTURE.with(|c| {
        let mut captured = c.borrow_mut();
        let call = captured.as_mut().and_then(|c| c.calls.last_mut()).filter(|call| call.succeeded.is_none());
        if let Some(call) = call {
            f(call)
        }
    })
}

/// A plugin call begins.
pub(super) fn call() {
    CAPTURE.with(|c| {
        if let Some(captured) = c.borrow_mut().as_mut() {
            captured.calls.push(Call::default())
        }
    })
}

/// The plugin call under way ended, and whether it succeeded.
pub(super) fn ended(succeeded: bool) {
    with(|call| call.succeeded = Some(succeeded));
}

pub(super) fn log(level: Level, message: &str, fields: &[(impl AsRef<str>, impl AsRef<str>)]) {
    with(|call| {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        let fields = fields.iter().map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned())).collect();
        call.logs.push(LogLine { level, message: message.to_owned(), fields });
    })
}

pub(super) fn counter(name: &str, delta: u64) {
    with(|call| *call.counters.entry(name.to_owned()).or_default() += delta);
}

pub(super) fn gauge(name: &str, value: f64) {
    with(|call| {
        call.gauges.insert(name.to_owned(), value);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_calls_ask_inside_capturing_on_this_thread_is_captured() {
        counter("before", 1);
        let ((), captured) = capturing(|| {
            counter("init", 1);
            call();
            log(Level::Info, "first", &[("k", "v")]);
            counter("seen", 2);
            ended(false);
            counter("between", 1);
            call();
            counter("seen", 3);
            gauge("size", 1.0);
            gauge("size", 4.5);
            std::thread::spawn(|| counter("elsewhere", 1)).join().unwrap();
            ended(true);
        });
        let line = LogLine { level: "info", message: "first".into(), fields: [("k".into(), "v".into())].into() };
        let failed = Call {
            logs: vec![line],
            counters: [("seen".to_owned(), 2)].into(),
            gauges: BTreeMap::new(),
            succeeded: Some(false),
        };
        let kept = Call {
            logs: vec![],
            counters: [("seen".to_owned(), 3)].into(),
            gauges: [("size".to_owned(), 4.5)].into(),
            succeeded: Some(true),
        };
        assert_eq!(captured.calls, [failed, kept]);
        counter("after", 1);
        assert!(capturing(|| ()).1.calls.is_empty());
    }
}
