//! `sluice plugin test`: run one plugin over a file of records, no broker, no config.
//!
//! Prints one JSON line per input record, in order:
//! `{"offset":N,"outputs":[{"route":null,"value":"..."}]}` or
//! `{"offset":N,"rejected":"reason"}`. Outputs use the record envelope of
//! [`crate::codec`], plus the route (`null` for the default route). With `--expect`,
//! those lines are compared with the author's expectations instead ([`super::expect`]).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;

use crate::codec::{self, LineFormat};
use crate::config::FailurePolicy;
use crate::plugin::chain::{Chain, ChainResult, SlotSpec};
use crate::plugin::versions::SlotReport;
use crate::plugin::{PluginEngine, Sandbox};
use crate::record::{Record, RecordMeta};

/// Records per `process` call.
const BATCH: usize = 1000;

#[derive(Serialize)]
struct Line<'a> {
    offset: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    outputs: Option<Vec<Output<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected: Option<&'a str>,
}

#[derive(Serialize)]
struct Output<'a> {
    route: Option<&'a str>,
    #[serde(flatten)]
    record: codec::Envelope<'a>,
}

/// Runs the plugin at `wasm` over `input` and writes the results to `out`.
pub fn run(
    wasm: &Path,
    input: &Path,
    format: LineFormat,
    config: &[(String, String)],
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
    for chunk in records.chunks(BATCH) {
        let meta: Vec<RecordMeta> = chunk.iter().map(|(_, meta)| meta.clone()).collect();
        let records = chunk.iter().map(|(record, _)| record.clone()).collect();
        let result = chain.run("plugin-test", &meta, records, &[]).map_err(anyhow::Error::msg)?;
        write_results(chunk, result, out)?;
    }
    Ok(())
}

fn write_results(chunk: &[(Record, RecordMeta)], result: ChainResult, out: &mut impl Write) -> anyhow::Result<()> {
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
        let line = Line { offset: meta.offset, outputs: rejected.is_none().then_some(outputs), rejected };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
