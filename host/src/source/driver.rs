//! The loop around every lane of a source: read, batch, send downstream, commit what is
//! acknowledged.
//!
//! A *lane* is an ordered run of records with commits of its own: the whole of a file or
//! of stdin, one partition of a Kafka topic. [`Lanes`] starts one task per lane running
//! [`run`], and each lane always feeds the same pipeline worker, so its order survives
//! the parallel plugin workers. Each turn the loop does the most urgent thing first:
//!
//! 1. commit acknowledgements (so that a busy source never delays them);
//! 2. notice shutdown (stop reading, send what is batched, wait for acknowledgements);
//! 3. send a due batch, waiting for room downstream: this is backpressure, a slow sink
//!    fills the bounded channels behind it and the source simply stops being read;
//! 4. read the next record, while the batch has room;
//! 5. make a partial batch due when `batch_wait` has passed since its first record.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Source;
use crate::ack::{AckTracker, BatchAck, Completion};
use crate::batch::{Batch, BatchBuilder};
use crate::status::PipelineStats;

#[derive(Clone, Copy)]
pub struct BatchSettings {
    pub size: usize,
    pub wait: Duration,
}

/// Starts the lanes of one source, spreading them over the pipeline's workers.
#[derive(Clone)]
pub struct Lanes {
    source: Arc<str>,
    settings: BatchSettings,
    workers: Arc<[mpsc::Sender<Batch>]>,
    next_worker: Arc<AtomicUsize>,
    stats: Arc<PipelineStats>,
}

impl Lanes {
    pub fn new(
        source: Arc<str>,
        settings: BatchSettings,
        workers: Vec<mpsc::Sender<Batch>>,
        stats: Arc<PipelineStats>,
    ) -> Self {
        assert!(!workers.is_empty(), "a pipeline has at least one worker");
        Lanes { source, settings, workers: workers.into(), next_worker: Arc::default(), stats }
    }

    /// Reads `lane` until it is exhausted or `stop` fires; the task ends once everything
    /// it sent is acknowledged and committed. Lanes go to workers in turn.
    pub fn spawn<S: Source>(&self, lane: S, stop: CancellationToken) -> JoinHandle<anyhow::Result<()>> {
        let worker = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let downstream = self.workers[worker].clone();
        tokio::spawn(run(lane, self.source.clone(), self.settings, downstream, stop, self.stats.clone()))
    }
}

/// How long a lane that lost a batch waits for the batches before it to be acknowledged.
const LOST_GRACE: Duration = Duration::from_secs(10);

/// Drives one lane until it is exhausted, or until `shutdown`, and everything it sent has
/// been acknowledged and committed.
async fn run<S: Source>(
    mut source: S,
    name: Arc<str>,
    settings: BatchSettings,
    downstream: mpsc::Sender<Batch>,
    shutdown: CancellationToken,
    stats: Arc<PipelineStats>,
) -> anyhow::Result<()> {
    let (completed_tx, mut completed) = mpsc::unbounded_channel();
    let mut tracker = AckTracker::default();
    let mut builder = BatchBuilder::new(settings.size);
    let mut next_seq = 0;
    let mut exhausted = false;
    let mut stopping = false;
    // One timer, re-armed per batch, rather than a new one per loop turn.
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    let mut timer_armed = false;
    let mut waited_out = false;

    // The first batch lost downstream, and why. Nothing is sent or read after it, and the
    // lane fails once every batch before it has completed and been committed: a batch
    // the sinks are still flushing when a later one is lost is delivered, and reading it
    // again after a restart would repeat it.
    let mut lost: Option<(u64, String)> = None;
    // How long it waits for them: a sink that never answers must not keep a failed lane.
    let grace = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(grace);

    loop {
        if let Some((seq, why)) = &lost
            && !tracker.outstanding_before(*seq)
        {
            anyhow::bail!("source `{name}`: batch {seq} was not delivered: {why}");
        }
        let reading = !(exhausted || stopping);
        let due = lost.is_none() && !builder.is_empty() && (builder.is_full() || waited_out || !reading);
        if !reading && builder.is_empty() && tracker.outstanding() == 0 {
            return Ok(());
        }
        tokio::select! {
            biased;
            Some(completion) = completed.recv() => {
                let mut checkpoint = None;
                let mut acked = 0;
                // Coalesce whatever else completed meanwhile into one commit.
                for completion in std::iter::once(completion).chain(std::iter::from_fn(|| completed.try_recv().ok())) {
                    match completion {
                        Completion::Delivered(seq) => {
                            checkpoint = tracker.completed(seq).or(checkpoint);
                            acked += 1;
                        }
                        // Nothing from the lost batch on may be committed (the tracker never
                        // passes it), and those records are read again after a restart. The
                        // host stops; this lane first waits for the batches before it.
                        Completion::Lost(seq, why) => {
                            if lost.is_none() {
                                grace.as_mut().reset(Instant::now() + LOST_GRACE);
                            }
                            if lost.as_ref().is_none_or(|&(first, _)| seq < first) {
                                lost = Some((seq, why));
                            }
                            stopping = true;
                            shutdown.cancel();
                        }
                    }
                }
                PipelineStats::add(&stats.batches_acked, acked);
                if let Some(checkpoint) = checkpoint {
                    source.commit(checkpoint).await.with_context(|| format!("source `{name}`: commit failed"))?;
                    tracker.committed();
                }
            }
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
            }
            permit = downstream.reserve(), if due => {
                let Ok(permit) = permit else {
                    anyhow::bail!("source `{name}`: the pipeline stopped accepting batches");
                };
                let seq = next_seq;
                next_seq += 1;
                let ack = BatchAck::new(seq, completed_tx.clone());
                let watch = ack.commit_watch();
                let (batch, last) = builder.take(seq, name.clone(), ack);
                PipelineStats::add(&stats.records_in, batch.records.len());
                tracker.sent(seq, last, watch);
                permit.send(batch);
                timer_armed = false;
                waited_out = false;
            }
            incoming = source.next(), if reading && !builder.is_full() => {
                match incoming.with_context(|| format!("source `{name}`"))? {
                    Some(incoming) => {
                        if builder.is_empty() {
                            timer.as_mut().reset(Instant::now() + settings.wait);
                            timer_armed = true;
                        }
                        builder.push(incoming);
                    }
                    None => exhausted = true,
                }
            }
            () = &mut timer, if timer_armed && !waited_out => {
                waited_out = true;
            }
            () = &mut grace, if lost.is_some() => {
                let (seq, why) = lost.take().expect("guarded");
                anyhow::bail!("source `{name}`: batch {seq} was not delivered: {why} (earlier batches still unacknowledged after {LOST_GRACE:?} are read again after a restart)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::record::{Record, RecordMeta};
    use crate::source::Incoming;

    /// Hands out `count` records, one checkpoint each, and remembers every commit.
    struct Counting {
        next: u64,
        count: u64,
        commits: Arc<Mutex<Vec<u64>>>,
    }

    impl Source for Counting {
        async fn next(&mut self) -> anyhow::Result<Option<Incoming>> {
            if self.next == self.count {
                return Ok(None);
            }
            self.next += 1;
            let meta = RecordMeta { stream: Arc::from("s"), partition: 0, offset: self.next - 1 };
            Ok(Some(Incoming { record: Ok(Record::from_value("x")), meta, checkpoint: self.next }))
        }

        async fn commit(&mut self, checkpoint: u64) -> anyhow::Result<()> {
            self.commits.lock().unwrap().push(checkpoint);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_batch_dropped_downstream_stops_the_lane_and_nothing_from_it_on_is_committed() {
        let commits = Arc::new(Mutex::new(Vec::new()));
        let source = Counting { next: 0, count: 30, commits: commits.clone() };
        let (downstream, mut batches) = mpsc::channel(1);
        // A worker that hands on the first batch and dies holding the second.
        let worker = tokio::spawn(async move {
            let first: Batch = batches.recv().await.unwrap();
            first.ack.dispatched();
            let second = batches.recv().await.unwrap();
            drop(second);
            batches
        });
        let settings = BatchSettings { size: 10, wait: Duration::from_secs(60) };
        let lane = run(source, Arc::from("s"), settings, downstream, CancellationToken::new(), Arc::default());
        let error = tokio::time::timeout(Duration::from_secs(10), lane)
            .await
            .expect("the lane stops at once instead of waiting for the lost batch")
            .expect_err("a lost batch fails the lane");
        assert!(error.to_string().contains("batch 1 was not delivered"), "{error:#}");
        assert_eq!(*commits.lock().unwrap(), [10], "only the first batch is committed");
        drop(worker.await.unwrap());
    }

    #[tokio::test]
    async fn a_batch_delivered_after_a_later_one_was_lost_is_still_committed() {
        let commits = Arc::new(Mutex::new(Vec::new()));
        let source = Counting { next: 0, count: 30, commits: commits.clone() };
        let (downstream, mut batches) = mpsc::channel(1);
        let shutdown = CancellationToken::new();
        // A worker whose sinks are still flushing the first batch when it loses the second.
        let stopping = shutdown.clone();
        let worker = tokio::spawn(async move {
            let first: Batch = batches.recv().await.unwrap();
            drop(batches.recv().await.unwrap());
            stopping.cancelled().await; // the loss reached the lane, and the host stops
            first.ack.dispatched();
            batches
        });
        let settings = BatchSettings { size: 10, wait: Duration::from_secs(60) };
        let lane = run(source, Arc::from("s"), settings, downstream, shutdown, Arc::default());
        let error = tokio::time::timeout(Duration::from_secs(10), lane).await.unwrap().expect_err("the lane fails");
        assert!(error.to_string().contains("batch 1 was not delivered"), "{error:#}");
        assert_eq!(*commits.lock().unwrap(), [10], "the first batch, delivered last, is committed");
        drop(worker.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lane_that_lost_a_batch_waits_for_the_earlier_ones_only_so_long() {
        let commits = Arc::new(Mutex::new(Vec::new()));
        let source = Counting { next: 0, count: 30, commits: commits.clone() };
        let (downstream, mut batches) = mpsc::channel(1);
        // A worker whose sinks never answer for the first batch, and that loses the second.
        let worker = tokio::spawn(async move {
            let first: Batch = batches.recv().await.unwrap();
            drop(batches.recv().await.unwrap());
            (first, batches)
        });
        let settings = BatchSettings { size: 10, wait: Duration::from_secs(60) };
        let lane = run(source, Arc::from("s"), settings, downstream, CancellationToken::new(), Arc::default());
        let error = lane.await.expect_err("the lane fails");
        assert!(error.to_string().contains("still unacknowledged after 10s"), "{error:#}");
        assert!(commits.lock().unwrap().is_empty(), "nothing was acknowledged, nothing committed");
        drop(worker.await.unwrap());
    }
}
