//! Per-pipeline counters, and the periodic line that shows a person the pipeline works.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::plugin::versions::SlotStates;

/// Counters one pipeline updates once per batch (never per record).
#[derive(Default, Debug)]
pub struct PipelineStats {
    /// Records read from the source.
    pub records_in: AtomicU64,
    /// Records handed to sinks on a route (fan-out copies count once per copy).
    pub records_out: AtomicU64,
    /// Records sent to the dead-letter sink.
    pub dead_lettered: AtomicU64,
    /// Input records a plugin emitted nothing for.
    pub dropped: AtomicU64,
    /// Input records a plugin failed on, dropped by its `on_failure = "skip"`.
    pub skipped: AtomicU64,
    /// Batches whose every delivery was acknowledged.
    pub batches_acked: AtomicU64,
    /// Hot-swapped plugin versions rolled back after failing their first batches.
    pub rollbacks: AtomicU64,
}

impl PipelineStats {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> [u64; 7] {
        [
            &self.records_in,
            &self.records_out,
            &self.dead_lettered,
            &self.dropped,
            &self.skipped,
            &self.batches_acked,
            &self.rollbacks,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// Logs each pipeline's totals, and its average rate over `elapsed`, once it has stopped.
pub fn log_totals(pipelines: &[(String, Arc<PipelineStats>)], elapsed: Duration) {
    for (name, stats) in pipelines {
        let [records_in, records_out, dead_lettered, dropped, skipped, batches_acked, rollbacks] = stats.snapshot();
        let rate = records_in as f64 / elapsed.as_secs_f64().max(1e-9);
        tracing::info!(
            pipeline = %name,
            records_in,
            records_out,
            dead_lettered,
            dropped,
            skipped,
            batches_acked,
            rollbacks,
            elapsed_secs = format_args!("{:.3}", elapsed.as_secs_f64()),
            records_per_sec = format_args!("{rate:.0}"),
            "pipeline finished"
        );
    }
}

/// Logs one line per pipeline every `interval` until the pipelines are gone, with how many
/// of its plugin slots hold a new version waiting for a batch to take over at (`slots`).
pub async fn report(pipelines: Vec<(String, Arc<PipelineStats>)>, slots: Arc<SlotStates>, interval: Duration) {
    let mut previous: Vec<[u64; 7]> = pipelines.iter().map(|(_, s)| s.snapshot()).collect();
    let mut last = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let elapsed = last.elapsed().as_secs_f64();
        last = Instant::now();
        for ((name, stats), prev) in pipelines.iter().zip(previous.iter_mut()) {
            let now = stats.snapshot();
            let rate = (now[0] - prev[0]) as f64 / elapsed;
            tracing::info!(
                pipeline = %name,
                records_in = now[0],
                records_out = now[1],
                dead_lettered = now[2],
                dropped = now[3],
                skipped = now[4],
                batches_acked = now[5],
                rollbacks = now[6],
                versions_pending = slots.pending(name),
                records_per_sec = format_args!("{rate:.0}"),
                "pipeline status"
            );
            *prev = now;
        }
    }
}
