//! The `sluice:plugin/host` imports: what a plugin may ask of the host, and how much.
//!
//! A plugin's log lines go into the host's log, so they are bounded per call
//! ([`LogBudget`]: lines and bytes, the rest dropped, counted and reported in one
//! warning) and escaped: a message holding a newline or a terminal escape cannot forge a
//! host log line. Metric names are checked, and an instance may create only
//! [`MAX_METRICS`] of them, so a plugin cannot grow the host's registry without bound.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use super::bindings::sluice::plugin::host::{Host, Level};
use super::instance::{InstanceState, PluginLabel};
use crate::config::PluginLimits;

/// One message's length; longer ones are cut.
const MAX_MESSAGE: usize = 4 * 1024;
/// Distinct metric names one instance may use.
const MAX_METRICS: usize = 64;

/// `text` with control characters (newlines, terminal escapes) written as escapes, so that
/// it stays on one line of the host's log.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c.is_control() {
            true => out.extend(c.escape_default()),
            false => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` cut to at most `max` bytes at a character boundary, saying so.
fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let end = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    Cow::Owned(format!("{}… [{} bytes cut]", &text[..end], text.len() - end))
}

/// What one call may still log, and what it had to drop.
pub struct LogBudget {
    lines: usize,
    bytes: u64,
    lines_left: usize,
    bytes_left: u64,
    dropped: usize,
    /// Metric names this instance has used.
    metrics: HashSet<String>,
    metrics_refused: usize,
}

impl LogBudget {
    pub fn new(limits: &PluginLimits) -> Self {
        let (lines, bytes) = (limits.log_lines, limits.log_bytes.as_u64());
        LogBudget {
            lines,
            bytes,
            lines_left: lines,
            bytes_left: bytes,
            dropped: 0,
            metrics: HashSet::new(),
            metrics_refused: 0,
        }
    }

    /// Whether a line of `len` bytes still fits; counts it either way.
    fn take(&mut self, len: usize) -> bool {
        if self.lines_left == 0 || self.bytes_left < len as u64 {
            self.dropped += 1;
            return false;
        }
        self.lines_left -= 1;
        self.bytes_left -= len as u64;
        true
    }

    /// Whether the metric `name` may be used: a sane name, and one of the instance's first
    /// [`MAX_METRICS`].
    fn metric(&mut self, name: &str) -> bool {
        let sane = !name.is_empty()
            && name.len() <= 128
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':'));
        let known = sane && (self.metrics.contains(name) || self.metrics.len() < MAX_METRICS);
        if known && !self.metrics.contains(name) {
            self.metrics.insert(name.to_owned());
        }
        if !known {
            self.metrics_refused += 1;
        }
        known
    }

    /// After a call: one warning for what was dropped, and a fresh budget for the next.
    pub fn report_and_reset(&mut self, label: &PluginLabel) {
        if self.dropped > 0 {
            tracing::warn!(plugin = %label.name, version = %label.version, pipeline = %label.pipeline, dropped = self.dropped, limit_lines = self.lines, limit_bytes = self.bytes, "plugin log lines over its limit for one call were dropped");
            metrics::counter!("sluice_plugin_log_lines_dropped_total", "plugin" => label.name.clone(), "pipeline" => label.pipeline.clone()).increment(self.dropped as u64);
        }
        if self.metrics_refused > 0 {
            tracing::warn!(plugin = %label.name, pipeline = %label.pipeline, refused = self.metrics_refused, "plugin metric updates refused: a name must be 1 to 128 of [A-Za-z0-9_.:], and an instance may use {MAX_METRICS} names");
        }
        self.lines_left = self.lines;
        self.bytes_left = self.bytes;
        self.dropped = 0;
        self.metrics_refused = 0;
    }
}

/// A plugin's extra log fields, shown as `k="v" k="v"`, escaped, all of them in the host's
/// one field `fields`.
struct Fields<'a>(&'a [(String, String)]);

impl fmt::Display for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            write!(f, "{}{}={v:?}", if i == 0 { "" } else { " " }, escape(k))?;
        }
        Ok(())
    }
}

impl Host for InstanceState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let len = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if !self.logs.take(len) {
            return;
        }
        let label = &self.label;
        let message = escape(&message);
        let message = truncate(&message, MAX_MESSAGE);
        // One quoted field, so that a plugin's `pipeline="…"` cannot pass for the host's.
        let fields = Fields(&fields).to_string();
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "sluice::plugin", $level, plugin = %label.name, version = %label.version, pipeline = %label.pipeline, fields = ?fields, "{message}")
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
        if self.logs.metric(&name) {
            let l = &self.label;
            metrics::counter!(name, "plugin" => l.name.clone(), "pipeline" => l.pipeline.clone()).increment(delta);
        }
    }

    fn gauge_set(&mut self, name: String, value: f64) {
        if self.logs.metric(&name) {
            let l = &self.label;
            metrics::gauge!(name, "plugin" => l.name.clone(), "pipeline" => l.pipeline.clone()).set(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_forge_a_log_line() {
        assert_eq!(escape("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(escape("a\n2026-12-02T00:00:00Z INFO forged"), "a\\n2026-12-02T00:00:00Z INFO forged");
        assert_eq!(escape("\u{1b}[31mred"), "\\u{1b}[31mred");
    }

    #[test]
    fn a_call_logs_within_its_budget_and_the_next_call_starts_afresh() {
        let limits = PluginLimits { log_lines: 3, ..PluginLimits::default() };
        let mut budget = LogBudget::new(&limits);
        let taken = (0..10).filter(|_| budget.take(10)).count();
        assert_eq!((taken, budget.dropped), (3, 7));
        budget.report_and_reset(&PluginLabel { name: "p".into(), version: "v".into(), pipeline: "x".into() });
        assert!(budget.take(10));
        assert!(!budget.take(usize::MAX), "bytes are budgeted too");
    }

    #[test]
    fn metric_names_are_checked_and_bounded() {
        let mut budget = LogBudget::new(&PluginLimits::default());
        assert!(budget.metric("records_seen"));
        assert!(!budget.metric("bad name\n"));
        assert!((0..MAX_METRICS * 2).filter(|i| budget.metric(&format!("m{i}"))).count() < MAX_METRICS);
        assert!(budget.metric("records_seen"), "a known name stays usable");
        assert_eq!(truncate("ééé", 3), "é… [4 bytes cut]");
    }
}
