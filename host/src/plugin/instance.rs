//! One running plugin: a sandboxed instance with its own store, fed one batch at a time.
//!
//! The instance lives across batches (instantiation and `init` happen once). A failed
//! batch (trap, timeout, memory cap, `err` result, malformed result) leaves the instance
//! in an unknown state, so the caller discards it and makes a new one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_wire::{BatchWriter, Outcome, ResultReader};
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::Plugin;
use super::engine::{CompiledPlugin, EPOCH_TICK};
use crate::config::PluginLimits;
use crate::record::{Record, RecordMeta};

/// Which plugin, which build, in which pipeline: attached to its logs, metrics and
/// dead-lettered records.
#[derive(Debug)]
pub struct PluginLabel {
    pub name: String,
    pub version: String,
    pub pipeline: String,
}

/// What a store carries: WASI with no capabilities, the memory cap, and the label.
pub struct InstanceState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryCap,
    pub(super) label: Arc<PluginLabel>,
    /// The guest's stderr, where Rust panics print their message; read after a trap.
    stderr: MemoryOutputPipe,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Caps linear memory, and says so in a way the host can recognise.
struct MemoryCap {
    limit: usize,
}

/// The trap cause when a plugin tries to grow memory past its cap.
#[derive(Debug)]
struct MemoryCapExceeded {
    limit: usize,
    desired: usize,
}

impl std::fmt::Display for MemoryCapExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "plugin exceeded its memory limit of {} (tried to grow to {})",
            bytesize::ByteSize::b(self.limit as u64),
            bytesize::ByteSize::b(self.desired as u64)
        )
    }
}

impl std::error::Error for MemoryCapExceeded {}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(MemoryCapExceeded { limit: self.limit, desired }.into());
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// What one plugin made of one batch.
#[derive(Default)]
pub struct PluginResult {
    /// Outputs in input order; `origin` is the index of the input record they came from.
    pub outputs: Vec<PluginOutput>,
    /// Input records the plugin rejected, with its reasons.
    pub rejected: Vec<(usize, String)>,
}

pub struct PluginOutput {
    pub origin: usize,
    pub record: Record,
    /// The route the plugin named; `None` is the default route.
    pub route: Option<Bytes>,
}

pub struct PluginInstance {
    store: Store<InstanceState>,
    bindings: Plugin,
    plugin: Arc<CompiledPlugin>,
    batch_timeout: Duration,
    /// Reused across batches to keep its allocation.
    encoder: BatchWriter,
}

impl PluginInstance {
    /// Instantiates `plugin` and calls its `init`. Blocking; an `Err` is the message to
    /// show the user.
    pub fn start(
        plugin: Arc<CompiledPlugin>,
        pipeline: &str,
        config: &[(String, String)],
        limits: PluginLimits,
    ) -> Result<Self, String> {
        let stderr = MemoryOutputPipe::new(8 * 1024);
        let label = Arc::new(PluginLabel {
            name: plugin.name.clone(),
            version: plugin.version.clone(),
            pipeline: pipeline.to_owned(),
        });
        let state = InstanceState {
            wasi: WasiCtxBuilder::new().stderr(stderr.clone()).build(),
            table: ResourceTable::new(),
            limiter: MemoryCap { limit: limits.memory.as_u64().try_into().unwrap_or(usize::MAX) },
            label,
            stderr,
        };
        let mut store = Store::new(plugin.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        set_deadline(&mut store, limits.batch_timeout);
        let bindings = match plugin.pre.instantiate(&mut store) {
            Ok(bindings) => bindings,
            Err(e) => {
                return Err(describe_failure(&store, &e, "failed to instantiate", limits.batch_timeout));
            }
        };
        set_deadline(&mut store, limits.batch_timeout);
        match bindings.sluice_plugin_transform().call_init(&mut store, &config.to_vec()) {
            Ok(Ok(())) => Ok(PluginInstance {
                store,
                bindings,
                plugin,
                batch_timeout: limits.batch_timeout,
                encoder: BatchWriter::default(),
            }),
            Ok(Err(message)) => Err(format!("plugin `{}` refused its configuration: {message}", plugin.name)),
            Err(e) => Err(describe_failure(&store, &e, "failed in init", limits.batch_timeout)),
        }
    }

    pub fn plugin(&self) -> &Arc<CompiledPlugin> {
        &self.plugin
    }

    /// Runs one batch. `Err` is the reason every record of the batch failed; the instance
    /// must then be discarded.
    pub fn process<'r>(
        &mut self,
        source: &str,
        records: impl ExactSizeIterator<Item = (&'r Record, &'r RecordMeta)>,
    ) -> Result<PluginResult, String> {
        let count = records.len();
        self.encoder.begin(source);
        for (record, meta) in records {
            self.encoder.push(
                record.body(),
                record.added_headers(),
                record.timestamp,
                &meta.stream,
                meta.partition,
                meta.offset,
            );
        }
        set_deadline(&mut self.store, self.batch_timeout);
        let result = self.bindings.sluice_plugin_transform().call_process(&mut self.store, self.encoder.finish());
        match result {
            Ok(Ok(encoded)) => decode_result(Bytes::from(encoded), count)
                .map_err(|e| format!("plugin `{}` returned a malformed result: {e}", self.plugin.name)),
            Ok(Err(message)) => Err(format!("plugin `{}` failed the batch: {message}", self.plugin.name)),
            Err(e) => Err(describe_failure(&self.store, &e, "trapped", self.batch_timeout)),
        }
    }
}

fn set_deadline(store: &mut Store<InstanceState>, timeout: Duration) {
    let ticks = timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1);
    store.set_epoch_deadline(ticks as u64);
}

/// Turns a trap into a sentence for logs and dead-letter headers.
fn describe_failure(store: &Store<InstanceState>, error: &wasmtime::Error, what: &str, timeout: Duration) -> String {
    let name = &store.data().label.name;
    if let Some(cap) = error.downcast_ref::<MemoryCapExceeded>() {
        return format!("plugin `{name}`: {cap}");
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return format!("plugin `{name}` timed out: a batch may take at most {timeout:?}");
    }
    // The trap code says what happened; the guest's stderr (a Rust panic message, say)
    // says why. The wasm backtrace is for debug logs, not for dead-letter headers.
    tracing::debug!(plugin = %name, error = format!("{error:?}"), "plugin failure in detail");
    let what_happened = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => error.to_string(),
    };
    let stderr = store.data().stderr.contents();
    let stderr = String::from_utf8_lossy(&stderr);
    let said: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    if said.is_empty() {
        format!("plugin `{name}` {what}: {what_happened}")
    } else {
        format!("plugin `{name}` {what}: {what_happened}: {}", said.join(" "))
    }
}

fn decode_result(buf: Bytes, count: usize) -> Result<PluginResult, sluice_wire::WireError> {
    let mut reader = ResultReader::new(&buf, count as u32)?;
    let mut result = PluginResult { outputs: Vec::with_capacity(count), rejected: Vec::new() };
    let mut origin = 0;
    while let Some(outcome) = reader.next_outcome() {
        match outcome? {
            Outcome::Rejected(reason) => result.rejected.push((origin, reason.to_owned())),
            Outcome::Outputs(outputs) => {
                for out in outputs {
                    let out = out?;
                    let mut record = Record::from_shared(&buf, out.body);
                    record.timestamp = out.timestamp;
                    let route = out.route.map(|r| buf.slice_ref(r.as_bytes()));
                    result.outputs.push(PluginOutput { origin, record, route });
                }
            }
        }
        origin += 1;
    }
    Ok(result)
}
