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

use wasmtime::component::{Linker, WasmList, WasmStr};
use wasmtime::{AsContext, StoreContextMut};

use super::bindings::sluice::plugin::host::Level;
use super::instance::{InstanceState, PluginLabel};
use crate::config::PluginLimits;

/// One message's length; longer ones are cut.
const MAX_MESSAGE: usize = 4 * 1024;
/// Distinct metric names one instance may use.
const MAX_METRICS: usize = 64;
/// Bytes of one metric name.
const MAX_METRIC_NAME: usize = 128;

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

    /// Bytes the call may still log.
    fn bytes_left(&self) -> usize {
        self.bytes_left.try_into().unwrap_or(usize::MAX)
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
            && name.len() <= MAX_METRIC_NAME
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

/// The interface's name in the component model: what a plugin's import names.
const INTERFACE: &str = "sluice:plugin/host@0.1.0";

/// Defines the `sluice:plugin/host` imports in `linker`.
///
/// By hand rather than through the generated `Host` trait: the generated functions are
/// given their arguments already copied into the host, so a `log` call whose fields all
/// point at one large string would cost the host that string as many times as it is
/// named, before its budget could refuse it. Here strings and lists arrive as views into
/// the plugin's memory ([`WasmStr`], [`WasmList`]); their sizes are checked against the
/// budget first, and only what is kept is read.
pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    let mut host = linker.instance(INTERFACE)?;
    host.func_wrap("log", |mut store, (level, message, fields): (Level, WasmStr, WasmList<(WasmStr, WasmStr)>)| {
        log(&mut store, level, &message, &fields)
    })?;
    host.func_wrap("counter-add", |mut store: StoreContextMut<'_, InstanceState>, (name, delta): (WasmStr, u64)| {
        if let Some(name) = metric_name(&mut store, &name)? {
            super::capture::counter(&name, delta);
            let l = &store.data().label;
            metrics::counter!(name, "plugin" => l.name.clone(), "pipeline" => l.pipeline.clone()).increment(delta);
        }
        Ok(())
    })?;
    host.func_wrap("gauge-set", |mut store: StoreContextMut<'_, InstanceState>, (name, value): (WasmStr, f64)| {
        if let Some(name) = metric_name(&mut store, &name)? {
            super::capture::gauge(&name, value);
            let l = &store.data().label;
            metrics::gauge!(name, "plugin" => l.name.clone(), "pipeline" => l.pipeline.clone()).set(value);
        }
        Ok(())
    })?;
    Ok(())
}

/// Bytes a field adds to a log line besides its key and value: `k="v" `.
const FIELD_OVERHEAD: usize = 4;

/// The `log` import: sizes first, then, if the line fits the call's budget, the line.
/// An `Err` (a string that is not UTF-8, a list out of the plugin's memory) traps the call.
fn log(
    store: &mut StoreContextMut<'_, InstanceState>,
    level: Level,
    message: &WasmStr,
    fields: &WasmList<(WasmStr, WasmStr)>,
) -> wasmtime::Result<()> {
    // For UTF-8 strings (every SDK's) `to_str` borrows the plugin's memory: no copy. (A
    // component that declares UTF-16 strings has each one transcoded, one at a time.)
    if store.data().logs.lines_left == 0 {
        store.data_mut().logs.dropped += 1;
        return Ok(());
    }
    let mut len = message.to_str(store.as_context())?.len();
    let left = store.data().logs.bytes_left();
    for i in 0..fields.len() {
        if len > left {
            break;
        }
        let (key, value) = fields.get(&mut *store, i).expect("index within the list")?;
        len += key.to_str(store.as_context())?.len() + value.to_str(store.as_context())?.len() + FIELD_OVERHEAD;
    }
    if !store.data_mut().logs.take(len) {
        return Ok(());
    }
    let mut shown = Vec::with_capacity(fields.len());
    for i in 0..fields.len() {
        shown.push(fields.get(&mut *store, i).expect("index within the list")?);
    }
    let store = &*store;
    let fields: Vec<(Cow<'_, str>, Cow<'_, str>)> =
        shown.iter().map(|(k, v)| Ok((k.to_str(store)?, v.to_str(store)?))).collect::<wasmtime::Result<_>>()?;
    let message = message.to_str(store)?;
    let message = escape(&message);
    let message = truncate(&message, MAX_MESSAGE);
    super::capture::log(level, &message, &fields);
    let label = &store.data().label;
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
    Ok(())
}

/// The metric `name`, if the instance may use it (see [`LogBudget::metric`]). A name
/// longer than any allowed one is not copied: it is refused as the empty name is.
fn metric_name(store: &mut StoreContextMut<'_, InstanceState>, name: &WasmStr) -> wasmtime::Result<Option<String>> {
    let name = name.to_str(store.as_context())?;
    let name = if name.len() > MAX_METRIC_NAME { String::new() } else { name.into_owned() };
    Ok(store.data_mut().logs.metric(&name).then_some(name))
}

/// A plugin's extra log fields, shown as `k="v" k="v"`, escaped, all of them in the host's
/// one field `fields`.
struct Fields<'a, 'm>(&'a [(Cow<'m, str>, Cow<'m, str>)]);

impl fmt::Display for Fields<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            write!(f, "{}{}={v:?}", if i == 0 { "" } else { " " }, escape(k))?;
        }
        Ok(())
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
