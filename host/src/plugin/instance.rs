//! One running plugin: a sandboxed instance with its own store, fed one batch at a time.
//!
//! The instance lives across batches (instantiation and `init` happen once). A failed
//! call (trap, deadline, a cap, an `err` result, a malformed result) leaves the instance
//! in an unknown state, so the caller discards it and makes a new one.
//!
//! **Deadlines.** Every call runs as a future on the calling thread
//! ([`Handle::block_on`]) under two clocks that end it at the same moment: the epoch
//! deadline traps wasm code at its next loop back-edge or function entry, and a Tokio
//! timeout drops the call while it waits in a host call (a WASI sleep or poll), where no
//! wasm code runs to notice the epoch. Dropping a Wasmtime future mid-call is how
//! Wasmtime cancels it; the instance is discarded afterwards like after any failure.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_wire::{BatchWriter, Outcome, ResultReader};
use tokio::runtime::Handle;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::Plugin;
use super::engine::{CompiledPlugin, EPOCH_TICK, WASM_STACK};
use super::host_api::LogBudget;
use super::limiter::{LimitExceeded, Limiter};
use super::sandbox::Sandbox;
use super::stdio::TailBuffer;
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

/// What a store carries: WASI with the sandbox's grants, the limits, and the label.
pub struct InstanceState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    pub(super) label: Arc<PluginLabel>,
    pub(super) logs: LogBudget,
    /// The guest's stdout and stderr, emptied before every call (see [`super::stdio`]).
    stdout: TailBuffer,
    stderr: TailBuffer,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
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
    limits: PluginLimits,
    /// Drives the instance's calls (and the WASI clocks they may wait on).
    runtime: Handle,
    /// Reused across batches to keep its allocation.
    encoder: BatchWriter,
    /// Batches processed, for recycling.
    batches: u64,
}

/// Why a call failed, before it is put into words.
enum CallError {
    /// Wasmtime's error: a trap, a cap, a canonical ABI violation.
    Wasm(wasmtime::Error),
    /// The Tokio timeout fired while the plugin waited in a host call.
    Deadline,
}

impl PluginInstance {
    /// Instantiates `plugin` in `sandbox` and calls its `init`, both within the sandbox's
    /// `batch_timeout`. Blocking; must be called inside a Tokio runtime's context but not
    /// from an async task. An `Err` is the message to show the user.
    pub fn start(
        plugin: Arc<CompiledPlugin>,
        pipeline: &str,
        config: &[(String, String)],
        sandbox: &Sandbox,
    ) -> Result<Self, String> {
        let limits = sandbox.limits;
        let runtime = Handle::try_current().map_err(|e| format!("plugins run inside the host's runtime: {e}"))?;
        let (stdout, stderr) = (TailBuffer::default(), TailBuffer::default());
        let label = Arc::new(PluginLabel {
            name: plugin.name.clone(),
            version: plugin.version.clone(),
            pipeline: pipeline.to_owned(),
        });
        let state = InstanceState {
            wasi: sandbox.wasi(stdout.clone(), stderr.clone())?,
            table: ResourceTable::new(),
            limiter: Limiter::new(&limits),
            label,
            logs: LogBudget::new(&limits),
            stdout,
            stderr,
        };
        let mut store = Store::new(plugin.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(limits.host_call_bytes());
        store.set_max_component_handles(limits.handles);
        store.epoch_deadline_trap();
        let deadline = limits.batch_timeout;
        set_deadline(&mut store, deadline);
        let pre = plugin.pre.clone();
        let started = bounded(&runtime, deadline, async {
            let bindings = pre.instantiate_async(&mut store).await?;
            let init = bindings.sluice_plugin_transform().call_init(&mut store, &config.to_vec()).await?;
            Ok((bindings, init))
        });
        let name = plugin.name.clone();
        let outcome = finish_call(&mut store, started, "failed to start", &limits, deadline);
        match outcome {
            Ok((bindings, Ok(()))) => Ok(PluginInstance {
                store,
                bindings,
                plugin,
                limits,
                runtime,
                encoder: BatchWriter::default(),
                batches: 0,
            }),
            Ok((_, Err(message))) => {
                Err(format!("plugin `{name}` refused its configuration: {}", super::host_api::escape(&message)))
            }
            Err(reason) => Err(reason),
        }
        .inspect_err(|_| {
            metrics::counter!("sluice_plugin_start_failures_total", "plugin" => name.clone(), "pipeline" => pipeline.to_owned()).increment(1);
        })
    }

    pub fn plugin(&self) -> &Arc<CompiledPlugin> {
        &self.plugin
    }

    /// Why this instance should be replaced by a fresh one before the next batch, if it
    /// should: its memory grew past `recycle_memory` (linear memory never shrinks), or it
    /// has run `recycle_after_batches` batches.
    pub fn due_for_recycling(&self) -> Option<String> {
        let in_use = self.store.data().limiter.memory_in_use() as u64;
        let high_water = self.limits.recycle_memory();
        if in_use > high_water.as_u64() {
            return Some(format!("its memory grew to {}, past {high_water}", bytesize::ByteSize::b(in_use)));
        }
        let every = self.limits.recycle_after_batches;
        (every > 0 && self.batches >= every).then(|| format!("it has run {} batches", self.batches))
    }

    /// Runs one batch. `Err` is the reason the call failed (for the batch as a whole:
    /// which record caused it is for the caller to find out); the instance must then be
    /// discarded.
    pub fn process<'r>(
        &mut self,
        source: &str,
        records: impl ExactSizeIterator<Item = (&'r Record, &'r RecordMeta)>,
        deadline: Duration,
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
        set_deadline(&mut self.store, deadline);
        super::capture::call();
        let batch = self.encoder.finish();
        let call = self.bindings.sluice_plugin_transform().call_process(&mut self.store, batch);
        let called = bounded(&self.runtime, deadline, call);
        self.batches += 1;
        let outcome = self.finish(called, count, deadline);
        super::capture::ended(outcome.is_ok());
        outcome
    }

    /// What a `process` call that ended with `called`, for a batch of `count`, produced.
    fn finish(
        &mut self,
        called: Result<Result<Vec<u8>, String>, CallError>,
        count: usize,
        deadline: Duration,
    ) -> Result<PluginResult, String> {
        let name = &self.plugin.name;
        match finish_call(&mut self.store, called, "trapped", &self.limits, deadline)? {
            Ok(encoded) if encoded.len() as u64 > self.limits.result_bytes.as_u64() => Err(format!(
                "plugin `{name}` returned {} for a batch, more than its limit of {}",
                bytesize::ByteSize::b(encoded.len() as u64),
                self.limits.result_bytes
            )),
            Ok(encoded) => decode_result(Bytes::from(encoded), count, self.limits.outputs_per_record)
                .map_err(|e| format!("plugin `{name}` returned a malformed result: {e}")),
            Err(message) => Err(format!("plugin `{name}` failed the batch: {}", super::host_api::escape(&message))),
        }
    }
}

/// Runs `call` to completion on this thread, or until `deadline` passes while it waits.
fn bounded<T>(
    runtime: &Handle,
    deadline: Duration,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> Result<T, CallError> {
    match runtime.block_on(tokio::time::timeout(deadline, call)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(CallError::Wasm(error)),
        Err(_elapsed) => Err(CallError::Deadline),
    }
}

/// After a call: reports what the plugin printed and logged beyond its budget, and puts a
/// failure into words.
fn finish_call<T>(
    store: &mut Store<InstanceState>,
    outcome: Result<T, CallError>,
    what: &str,
    limits: &PluginLimits,
    deadline: Duration,
) -> Result<T, String> {
    let state = store.data_mut();
    state.logs.report_and_reset(&state.label);
    let stdout = state.stdout.take();
    let stderr = state.stderr.take();
    let label = &state.label;
    if let Some(text) = &stdout {
        tracing::debug!(plugin = %label.name, version = %label.version, pipeline = %label.pipeline, stdout = %super::host_api::escape(text), "plugin printed to stdout");
    }
    if let Some(text) = &stderr {
        tracing::debug!(plugin = %label.name, version = %label.version, pipeline = %label.pipeline, stderr = %super::host_api::escape(text), "plugin printed to stderr");
    }
    outcome.map_err(|error| describe_failure(&label.name, error, what, limits, deadline, stderr.as_deref()))
}
fn set_deadline(store: &mut Store<InstanceState>, timeout: Duration) {
    let ticks = timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1);
    store.set_epoch_deadline(ticks as u64);
}

/// Turns a failed call into a sentence for logs and dead-letter headers: what happened,
/// and the tail of what the plugin printed to stderr during the call (a Rust panic's
/// message, a Python traceback), with control characters escaped.
fn describe_failure(
    name: &str,
    error: CallError,
    what: &str,
    limits: &PluginLimits,
    deadline: Duration,
    stderr: Option<&str>,
) -> String {
    let error = match error {
        CallError::Deadline => return format!("plugin `{name}` timed out: a call may take at most {deadline:?}"),
        CallError::Wasm(error) => error,
    };
    if let Some(cap) = error.downcast_ref::<LimitExceeded>() {
        return format!("plugin `{name}`: {cap}");
    }
    if let Some(cap) = wasmtime_cap(&error) {
        return format!("plugin `{name}` {}", cap.describe(limits));
    }
    if let Some(full) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        return format!(
            "plugin `{name}` {what}: the host's instance pool is full ({full}), which it is sized never to be: please report this"
        );
    }
    let what_happened = match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => return format!("plugin `{name}` timed out: a call may take at most {deadline:?}"),
        Some(Trap::StackOverflow) => {
            format!("stack overflow (the wasm stack is limited to {})", bytesize::ByteSize::b(WASM_STACK as u64))
        }
        Some(trap) => trap.to_string(),
        // The cause, not the wasm backtrace Wasmtime wraps it in (whose message is on top).
        None if error.downcast_ref::<wasmtime::WasmBacktrace>().is_some() => error.root_cause().to_string(),
        None => format!("{error:#}"),
    };
    // The wasm backtrace is for debug logs, not for dead-letter headers.
    tracing::debug!(plugin = %name, error = format!("{error:?}"), "plugin failure in detail");
    let said: Vec<&str> = stderr
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    let reason = match said.is_empty() {
        true => format!("plugin `{name}` {what}: {what_happened}"),
        false => format!("plugin `{name}` {what}: {what_happened}: {}", said.join(" ")),
    };
    super::host_api::escape(&reason).into_owned()
}

/// The two store limits Wasmtime enforces itself, set from the plugin's limits.
enum WasmtimeCap {
    /// A call to the host, or a batch's result, carried more than its hostcall fuel.
    HostCallBytes,
    /// The instance tried to hold more resource handles than the store allows.
    Handles,
}

impl WasmtimeCap {
    fn describe(&self, limits: &PluginLimits) -> String {
        match self {
            WasmtimeCap::HostCallBytes => format!(
                "passed the host more than {} in one call or one batch's result, the most either may carry (its `result_bytes` limit, and at least 1 MiB)",
                bytesize::ByteSize::b(limits.host_call_bytes() as u64)
            ),
            WasmtimeCap::Handles => {
                format!("tried to hold more than {} resource handles at once (its `handles` limit)", limits.handles)
            }
        }
    }
}

/// Which of [`WasmtimeCap`] ended the call, if one did. Wasmtime reports both with error
/// types it does not export, so they are known by their messages (of Wasmtime 48; the
/// end-to-end tests that reach each cap fail if a new version words them differently).
/// Only the root cause is read: the contexts above it include the wasm backtrace, whose
/// function names are the plugin's to choose.
fn wasmtime_cap(error: &wasmtime::Error) -> Option<WasmtimeCap> {
    let text = error.root_cause().to_string();
    if text
        == "too much data is being copied between the host and the guest: fuel allocated for hostcalls has been exhausted"
    {
        Some(WasmtimeCap::HostCallBytes)
    } else if text.ends_with("store handle limit exceeded") && text.starts_with("cannot ") {
        Some(WasmtimeCap::Handles)
    } else {
        None
    }
}

fn decode_result(buf: Bytes, count: usize, outputs_per_record: usize) -> Result<PluginResult, String> {
    let mut reader = ResultReader::new(&buf, count as u32).map_err(|e| e.to_string())?;
    let mut result = PluginResult { outputs: Vec::with_capacity(count), rejected: Vec::new() };
    let mut origin = 0;
    while let Some(outcome) = reader.next_outcome() {
        match outcome.map_err(|e| e.to_string())? {
            Outcome::Rejected(reason) => result.rejected.push((origin, reason.to_owned())),
            Outcome::Outputs(outputs) => {
                for (n, out) in outputs.enumerate() {
                    if n == outputs_per_record {
                        return Err(format!("more than {outputs_per_record} outputs for one input record (the limit)"));
                    }
                    let out = out.map_err(|e| e.to_string())?;
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
