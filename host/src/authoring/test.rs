//! `sluice plugin test`: run one plugin over a file of records, no broker, no config.
//!
//! Prints one JSON line per input record, in order:
//! `{"offset":N,"outputs":[{"route":null,"value":"..."}]}` or
//! `{"offset":N,"rejected":"reason"}`. Outputs use the record envelope of
//! [`crate::codec`], plus the route (`null` for the default route). With `--expect`,
//! those lines are compared with the author's expectations instead ([`super::expect`]).
//!
//! What else it shows ([`Show`]): the plugin's log lines with each record (`"logs"`; the
//! records then go one per call, so that each line has its own), and a last line with
//! the totals of its metrics (`{"metrics":{"counters":{…},"gauges":{…}}}`) over the calls
//! whose results were used, so that every record counts once however the records were
//! batched and a failure isolated, as the host received them ([`crate::plugin::capture`]).
//! What a plugin logs or counts in `init` is not shown.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;

use crate::codec::{self, LineFormat};
use crate::config::FailurePolicy;
use crate::plugin::capture::{self, LogLine};
use crate::plugin::chain::{Chain, ChainResult, SlotSpec};
use crate::plugin::versions::SlotReport;
use crate::plugin::{PluginEngine, Sandbox};
use crate::record::{Record, RecordMeta};

/// Records per `process` call.
const BATCH: usize = 1000;

/// What `plugin test` shows besides each record's results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Show {
    pub logs: bool,
    pub metrics: bool,
}

impl Show {
    /// `--show`'s value: `logs`, `metrics`, or both, comma-separated.
    pub fn parse(list: &str) -> Result<Show, String> {
        let mut show = Show::default();
        for item in list.split(',').map(str::trim) {
            match item {
                "logs" => show.logs = true,
                "metrics" => show.metrics = true,
                other => return Err(format!("`{other}` is not something `--show` shows: logs, metrics")),
            }
        }
        Ok(show)
    }

    /// What either shows.
    pub fn or(self, other: Show) -> Show {
        Show { logs: self.logs || other.logs, metrics: self.metrics || other.metrics }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    offset: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    outputs: Option<Vec<Output<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logs: Option<&'a [LogLine]>,
}

#[derive(Serialize)]
struct MetricsLine<'a> {
    metrics: Metrics<'a>,
}

#[derive(Serialize)]
struct Metrics<'a> {
    counters: &'a BTreeMap<String, u64>,
    gauges: &'a BTreeMap<String, f64>,
}

#[derive(Serialize)]
struct Output<'a> {
    route: Option<&'a str>,
    #[serde(flatten)]
    record: codec::Envelope<'a>,
}

/// Runs the plugin at `wasm` over `input` and writes the results to `out`, with what
/// `show` asks for.
pub fn run(
    wasm: &Path,
    input: &Path,
    format: LineFormat,
    config: &[(String, String)],
    show: Show,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let engine = PluginEngine::new()?;
    let name = wasm.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin");
    let bytes = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let compiled = match crate::plugin::cache::CompileCache::user() {
        Some(cache) => {
            let (compiled, origin) = engine.compile_cached(name, &bytes, &cache)?;
            tracing::debug!(plugin = name, ?origin, "plugin loaded");
            compiled
        }
        None => engine.compile(name, &bytes)?,
    };
    let compiled = Arc::new(compiled);
    // The pipeline's own chain, so that a failure is isolated to its records as in `run`.
    let (_versions, receiver) = watch::channel(compiled);
    let spec = SlotSpec {
        versions: receiver,
        config: config.to_vec(),
        sandbox: Sandbox::default(),
        on_failure: FailurePolicy::DeadLetter,
        rollback_after: 0,
        report: SlotReport::unread(),
    };
    let mut chain = Chain::start("plugin-test", vec![spec]).map_err(anyhow::Error::msg)?;

    let text = Bytes::from(std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?);
    let stream: Arc<str> = Arc::from(input.to_string_lossy().as_ref());
    let mut records = Vec::new();
    let mut start = 0;
    for (line_no, line) in text.split(|&b| b == b'\n').enumerate() {
        let slice = text.slice(start..start + line.len());
        start += line.len() + 1;
        if slice.is_empty() {
            continue;
        }
        let record =
            codec::decode(format, slice).map_err(|e| anyhow::anyhow!("{}:{}: {e}", input.display(), line_no + 1))?;
        records.push((record, RecordMeta { stream: stream.clone(), partition: 0, offset: line_no as u64 }));
    }
    let (mut counters, mut gauges) = (BTreeMap::new(), BTreeMap::new());
    for chunk in records.chunks(if show.logs { 1 } else { BATCH }) {
        let meta: Vec<RecordMeta> = chunk.iter().map(|(_, meta)| meta.clone()).collect();
        let records = chunk.iter().map(|(record, _)| record.clone()).collect();
        let (result, captured) = capture::capturing(|| chain.run("plugin-test", &meta, records, &[]));
        let result = result.map_err(anyhow::Error::msg)?;
        let logs = captured.calls.last().map_or(&[][..], |call| call.logs.as_slice());
        write_results(chunk, result, show.logs.then_some(logs), out)?;
        // The calls whose results were used: each record's metrics once, however the
        // records were batched and a failure isolated.
        for call in captured.calls.into_iter().filter(|call| call.succeeded == Some(true)) {
            for (name, delta) in call.counters {
                *counters.entry(name).or_default() += delta;
            }
            gauges.extend(call.gauges);
        }
    }
    if show.metrics {
        serde_json::to_writer(&mut *out, &MetricsLine { metrics: Metrics { counters: &counters, gauges: &gauges } })?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// One line per record of `chunk`; `logs` (those of the record's call, when shown) go
/// with the chunk's one record.
fn write_results(
    chunk: &[(Record, RecordMeta)],
    result: ChainResult,
    logs: Option<&[LogLine]>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut outputs: Vec<Vec<Output>> = (0..chunk.len()).map(|_| Vec::new()).collect();
    let mut rejected: Vec<Option<&str>> = vec![None; chunk.len()];
    for output in &result.outputs {
        let route = output.route.as_deref().map(|r| std::str::from_utf8(r).expect("routes are UTF-8"));
        outputs[output.origin].push(Output { route, record: codec::Envelope::of(&output.record) });
    }
    for dead in &result.dead {
        rejected[dead.origin] = Some(&dead.reason);
    }
    for (((_, meta), outputs), rejected) in chunk.iter().zip(outputs).zip(rejected) {
        let line = Line { offset: meta.offset, outputs: rejected.is_none().then_some(outputs), rejected, logs };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
