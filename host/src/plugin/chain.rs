//! A pipeline's plugins, in order, and how a batch goes through them.
//!
//! Each plugin's outputs are the next plugin's inputs. Every record in between remembers
//! its *origin*, the index of the source record it descends from, which keeps metadata
//! and dead-letter context attached across the chain. A route named by one plugin stays
//! with the record through later plugins unless one of them names another.
//!
//! Hot swap: each slot has a background task that instantiates and initializes a new
//! version as soon as the plugins directory publishes it, off the pipeline's thread. The
//! chain picks the ready instance up between two batches, so every batch runs entirely
//! on one version, in order, and nothing is lost or repeated. A version that fails to
//! start never becomes ready: the previous one keeps running.
//!
//! Failures: when a call fails, [`isolate`] finds the records that fail alone, and the
//! slot's [`FailurePolicy`] says what becomes of them: the dead-letter sink (the default),
//! dropped and counted (`skip`), or the end of the pipeline with the batch unacknowledged
//! (`fail`), in which case [`Chain::run`] returns the reason and the worker stops.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use super::engine::CompiledPlugin;
use super::health::{Health, Verdict};
use super::instance::{PluginInstance, PluginOutput, PluginResult};
use super::isolate::isolate;
use super::sandbox::Sandbox;
use super::swap::{Ready, prepare_new_versions};
use super::versions::SlotReport;
use crate::config::FailurePolicy;
use crate::record::{Record, RecordMeta};

/// A record that goes to the dead-letter sink, and why.
pub struct DeadLetter {
    pub origin: usize,
    /// The record as the failing plugin received it.
    pub record: Record,
    pub reason: String,
    /// The plugin that rejected it; `None` when the source could not decode it.
    pub plugin: Option<Arc<CompiledPlugin>>,
}

/// What became of a batch: the outputs of the last plugin, and the dead letters.
#[derive(Default)]
pub struct ChainResult {
    pub outputs: Vec<PluginOutput>,
    pub dead: Vec<DeadLetter>,
    /// Source records that produced no output and were not dead-lettered or skipped.
    pub dropped: usize,
    /// Source records a plugin failed on and whose policy is `skip`.
    pub skipped: usize,
    /// Plugins rolled back to their previous version after this batch.
    pub rollbacks: usize,
}

/// One plugin's place in the chain.
struct Slot {
    instance: Option<PluginInstance>,
    version: Arc<CompiledPlugin>,
    pipeline: String,
    config: Vec<(String, String)>,
    sandbox: Arc<Sandbox>,
    on_failure: FailurePolicy,
    rollback_after: u32,
    health: Health<Arc<CompiledPlugin>>,
    /// A started instance of a newer version, waiting for the gap between two batches.
    ready: Arc<Ready>,
    preparer: AbortHandle,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.preparer.abort();
    }
}

/// How to start one plugin of a chain.
pub struct SlotSpec {
    pub versions: watch::Receiver<Arc<CompiledPlugin>>,
    pub config: Vec<(String, String)>,
    pub sandbox: Sandbox,
    pub on_failure: FailurePolicy,
    /// Roll a new version back after it failed this many first batches; 0: never.
    pub rollback_after: u32,
    /// Where the slot says which version it runs.
    pub report: SlotReport,
}

pub struct Chain {
    slots: Vec<Slot>,
}

impl Chain {
    /// Starts every plugin of the chain. Blocking (instantiation runs here); the error
    /// names the plugin that could not start. Must run inside a Tokio runtime, which hosts
    /// the tasks that prepare new versions.
    pub fn start(pipeline: &str, specs: Vec<SlotSpec>) -> Result<Chain, String> {
        let mut slots = Vec::with_capacity(specs.len());
        for SlotSpec { mut versions, config, sandbox, on_failure, rollback_after, report } in specs {
            let version = versions.borrow_and_update().clone();
            let instance = PluginInstance::start(version.clone(), pipeline, &config, &sandbox)?;
            let sandbox = Arc::new(sandbox);
            let ready = Arc::new(Ready::new(report, &version.version));
            let preparer = tokio::spawn(prepare_new_versions(
                versions,
                ready.clone(),
                pipeline.to_owned(),
                config.clone(),
                sandbox.clone(),
            ))
            .abort_handle();
            slots.push(Slot {
                instance: Some(instance),
                version,
                pipeline: pipeline.to_owned(),
                config,
                sandbox,
                on_failure,
                rollback_after,
                health: Health::default(),
                ready,
                preparer,
            });
        }
        Ok(Chain { slots })
    }

    /// Ends every backoff pause once `stopping` is cancelled, so that a host asked to stop
    /// drains its batches without waiting out a failing plugin's pauses.
    pub fn end_pauses_when(&self, stopping: CancellationToken) {
        // Weak: a chain dropped meanwhile takes its waiting instances with it.
        let ready: Vec<_> = self.slots.iter().map(|slot| Arc::downgrade(&slot.ready)).collect();
        tokio::spawn(async move {
            stopping.cancelled().await;
            ready.iter().filter_map(std::sync::Weak::upgrade).for_each(|ready| ready.stop());
        });
    }

    /// Runs a batch through every plugin. Blocking. `malformed` records (that the source
    /// could not decode) skip the plugins and are dead-lettered. `Err` is why the pipeline
    /// must stop: a plugin whose policy is `fail` failed on a record of this batch.
    pub fn run(
        &mut self,
        source: &str,
        meta: &[RecordMeta],
        records: Vec<Record>,
        malformed: &[(usize, String)],
    ) -> Result<ChainResult, String> {
        let mut result = ChainResult::default();
        let mut reasons = malformed.iter().peekable();
        let mut stage = Vec::with_capacity(records.len());
        for (origin, record) in records.into_iter().enumerate() {
            match reasons.next_if(|(i, _)| *i == origin) {
                Some((_, reason)) => result.dead.push(DeadLetter {
                    origin,
                    record,
                    reason: format!("source could not decode the record: {reason}"),
                    plugin: None,
                }),
                None => stage.push(PluginOutput { origin, record, route: None }),
            }
        }
        let inputs = stage.len();
        // Origins of the records a plugin failed on and skipped.
        let mut skipped = Vec::new();
        for slot in &mut self.slots {
            if stage.is_empty() {
                break;
            }
            stage = slot.run(source, meta, stage, &mut result, &mut skipped)?;
        }
        let mut produced = vec![false; meta.len()];
        for output in &stage {
            produced[output.origin] = true;
        }
        let dead_inputs = result.dead.iter().filter(|d| d.plugin.is_some()).map(|d| d.origin);
        for origin in dead_inputs.chain(skipped.iter().copied()) {
            produced[origin] = true;
        }
        skipped.sort_unstable();
        skipped.dedup();
        result.skipped = skipped.len();
        result.dropped = inputs - produced.iter().filter(|&&p| p).count();
        result.outputs = stage;
        Ok(result)
    }
}

impl Slot {
    fn run(
        &mut self,
        source: &str,
        meta: &[RecordMeta],
        mut inputs: Vec<PluginOutput>,
        chain: &mut ChainResult,
        skipped: &mut Vec<usize>,
    ) -> Result<Vec<PluginOutput>, String> {
        self.take_ready_version();
        let n = inputs.len();
        let timeout = self.sandbox.limits.batch_timeout;
        let outcome = self.call(source, meta, &inputs, 0..n, timeout);
        let (result, failed) = match outcome.map_err(|reason| (reason, self.ensure_instance())) {
            Ok(result) => {
                self.recycle_if_due();
                (result, Vec::new())
            }
            // No instance can be started: no record is to blame, and isolating would only
            // try to start one again for every part.
            Err((_, Err(cannot_start))) => {
                (PluginResult::default(), (0..n).map(|i| (i, cannot_start.clone())).collect())
            }
            Err((reason, Ok(()))) => {
                let started = std::time::Instant::now();
                let isolated =
                    isolate(n, timeout, &reason, |range, deadline| self.call(source, meta, &inputs, range, deadline));
                tracing::warn!(plugin = %self.version.name, version = %self.version.version, pipeline = %self.pipeline, records = n, failed = isolated.failed.len(), calls = isolated.calls, took = ?started.elapsed(), %reason, "batch failed; the records that fail alone go to the dead-letter sink, the others go on");
                let (name, pipeline) = (self.version.name.clone(), self.pipeline.clone());
                metrics::counter!("sluice_plugin_isolation_calls_total", "plugin" => name, "pipeline" => pipeline)
                    .increment(isolated.calls as u64);
                (isolated.result, isolated.failed)
            }
        };
        let verdict = self.health.batch_done(n, failed.len());
        let failed = self.apply_policy(failed, &inputs, meta, skipped)?;
        let dead = &mut chain.dead;
        let rejected = result.rejected.into_iter();
        let mut dead_here: Vec<(usize, String)> = rejected.chain(failed).collect();
        dead_here.sort_by_key(|(index, _)| *index);
        for (index, reason) in dead_here {
            let input = &mut inputs[index];
            dead.push(DeadLetter {
                origin: input.origin,
                record: std::mem::take(&mut input.record),
                reason,
                plugin: Some(self.version.clone()),
            });
        }
        let mut outputs = result.outputs;
        for output in &mut outputs {
            let input = &inputs[output.origin];
            output.origin = input.origin;
            if output.route.is_none() {
                output.route = input.route.clone();
            }
        }
        match verdict {
            Verdict::Fine => {}
            Verdict::BackOff { streak, pause } => {
                tracing::error!(plugin = %self.version.name, version = %self.version.version, pipeline = %self.pipeline, batches = streak, ?pause, "the plugin failed on every record of its last batches; pausing before the next one (a new version ends the pause)");
                self.ready.wait(pause);
            }
            Verdict::RollBack { previous, batches } => {
                chain.rollbacks += usize::from(self.roll_back(previous, batches))
            }
        }
        Ok(outputs)
    }

    /// Goes back to `previous` after the current version failed its first `batches`
    /// batches. Whether it did: if `previous` cannot start either, the current version
    /// stays.
    fn roll_back(&mut self, previous: Arc<CompiledPlugin>, batches: u32) -> bool {
        let failing = self.version.clone();
        match PluginInstance::start(previous.clone(), &self.pipeline, &self.config, &self.sandbox) {
            Ok(instance) => {
                metrics::counter!("sluice_plugin_rollbacks_total", "plugin" => failing.name.clone(), "pipeline" => self.pipeline.clone()).increment(1);
                tracing::error!(plugin = %failing.name, pipeline = %self.pipeline, failing = %failing.version, batches, back_to = %previous.version, "the new plugin version failed on its first batches; rolled back to the previous version (replace the file to try another)");
                self.ready.rolled_back(&previous.version);
                self.version = previous;
                self.instance = Some(instance);
                true
            }
            Err(reason) => {
                tracing::error!(plugin = %failing.name, pipeline = %self.pipeline, failing = %failing.version, back_to = %previous.version, %reason, "the new plugin version keeps failing, and the previous one cannot be started again; keeping the new one");
                false
            }
        }
    }

    /// What the slot's policy makes of the records it failed on: those still bound for
    /// the dead-letter sink, or why the pipeline must stop.
    fn apply_policy(
        &self,
        failed: Vec<(usize, String)>,
        inputs: &[PluginOutput],
        meta: &[RecordMeta],
        skipped: &mut Vec<usize>,
    ) -> Result<Vec<(usize, String)>, String> {
        match (self.on_failure, failed.first()) {
            (FailurePolicy::DeadLetter, _) | (_, None) => Ok(failed),
            (FailurePolicy::Skip, Some(_)) => {
                let (name, pipeline) = (self.version.name.clone(), self.pipeline.clone());
                metrics::counter!("sluice_plugin_records_skipped_total", "plugin" => name, "pipeline" => pipeline)
                    .increment(failed.len() as u64);
                tracing::warn!(plugin = %self.version.name, version = %self.version.version, pipeline = %self.pipeline, records = failed.len(), first_reason = %failed[0].1, "records the plugin failed on are skipped (on_failure = \"skip\")");
                skipped.extend(failed.iter().map(|(index, _)| inputs[*index].origin));
                Ok(Vec::new())
            }
            (FailurePolicy::Fail, Some((index, reason))) => {
                let at = &meta[inputs[*index].origin];
                Err(format!(
                    "plugin `{}` version {} failed on the record at {}[{}]@{} and its on_failure is \"fail\", so the pipeline stops without acknowledging it: {reason}",
                    self.version.name, self.version.version, at.stream, at.partition, at.offset
                ))
            }
        }
    }

    /// Runs `range` of `inputs` on the slot's instance, starting a fresh one if the last
    /// call failed; a failure discards the instance. Origins in the result are relative
    /// to `range.start`.
    fn call(
        &mut self,
        source: &str,
        meta: &[RecordMeta],
        inputs: &[PluginOutput],
        range: std::ops::Range<usize>,
        deadline: std::time::Duration,
    ) -> Result<PluginResult, String> {
        self.ensure_instance()?;
        let instance = self.instance.as_mut().expect("ensured above");
        let records = inputs[range].iter().map(|i| (&i.record, &meta[i.origin]));
        let outcome = instance.process(source, records, deadline);
        if outcome.is_err() {
            self.instance = None;
        }
        outcome
    }

    /// Drops the instance if it is due for recycling; the next call starts a fresh one.
    fn recycle_if_due(&mut self) {
        if let Some(why) = self.instance.as_ref().and_then(PluginInstance::due_for_recycling) {
            tracing::debug!(plugin = %self.version.name, version = %self.version.version, pipeline = %self.pipeline, why, "plugin instance recycled");
            let (name, pipeline) = (self.version.name.clone(), self.pipeline.clone());
            metrics::counter!("sluice_plugin_instances_recycled_total", "plugin" => name, "pipeline" => pipeline)
                .increment(1);
            self.instance = None;
        }
    }

    /// Replaces a failed instance with a fresh one of the same version, if there is none.
    fn ensure_instance(&mut self) -> Result<(), String> {
        if self.instance.is_none() {
            let instance = PluginInstance::start(self.version.clone(), &self.pipeline, &self.config, &self.sandbox)
                .map_err(|e| format!("the plugin could not be restarted after a failure: {e}"))?;
            self.instance = Some(instance);
        }
        Ok(())
    }

    fn take_ready_version(&mut self) {
        let Some(instance) = self.ready.take() else {
            return;
        };
        let new = instance.plugin().clone();
        tracing::info!(plugin = %new.name, pipeline = %self.pipeline, from = %self.version.version, to = %new.version, "plugin swapped");
        let previous = std::mem::replace(&mut self.version, new);
        self.health.swapped(previous, self.rollback_after);
        self.instance = Some(instance);
    }
}
