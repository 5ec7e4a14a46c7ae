//! The loop around every sink: take what is queued, write it, flush once, dead-letter what
//! the sink refused, acknowledge.
//!
//! Draining everything queued before one flush is group commit: under load a file sink
//! fsyncs once per many batches, yet no batch waits for more than the flush it is in. A
//! sink that waits on a broker has several flushes in flight (see [`Flushing`]), so it
//! keeps writing while earlier records are on their way; outcomes are still handled in
//! order. A failed write or flush is retried with capped exponential backoff, forever:
//! the records stay unacknowledged, the bounded channel in front of the sink fills, and
//! the pipeline slows down instead of losing anything.
//!
//! A record the sink refuses for good (a broker's "too large") must not block its
//! partition forever: it goes to its pipeline's dead-letter sink with the reason, and its
//! batch is acknowledged once the dead-letter sink has accepted it.
//!
//! A transactional sink ([`run_transactional`]) differs in two ways. A failed write is not
//! retried: it dooms the transaction, so the transaction is aborted and the pipeline
//! stops, to restart from the last commit. And records are acknowledged when flushed but
//! committed later, every `interval`, once the source has committed past every batch in
//! the transaction: that is what makes records and source positions durable together.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::{CommitRequest, Flushing, Refused, RefusedTo, Sink, SinkBatch, TransactionalSink};
use crate::ack::CommitWatch;
use crate::record::Record;

/// At most this many batches go into one flush.
const MAX_BATCHES_PER_FLUSH: usize = 64;
/// At most this many flushes are under way at once. One would leave a broker sink idle
/// for a round trip after every flush; a few keep it busy, and the sink's bounded inbox
/// still stops the pipeline when they are all taken.
const MAX_FLUSHES_IN_FLIGHT: usize = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Flushes under way, oldest first, each with the batches it covers. Their outcomes are
/// handled in the order they were started, so batches are acknowledged in sink order.
#[derive(Default)]
struct InFlight {
    flushes: FuturesOrdered<Flushing>,
    groups: VecDeque<Vec<SinkBatch>>,
}

impl InFlight {
    fn push(&mut self, group: Vec<SinkBatch>, flushing: Flushing) {
        self.flushes.push_back(flushing);
        self.groups.push_back(group);
    }

    fn len(&self) -> usize {
        self.groups.len()
    }

    /// The oldest flush's batches and outcome, once it is done; `None` at once when no
    /// flush is under way. Cancel-safe.
    async fn next(&mut self) -> Option<(Vec<SinkBatch>, anyhow::Result<Vec<Refused>>)> {
        let outcome = self.flushes.next().await?;
        Some((self.groups.pop_front().expect("every flush has its group"), outcome))
    }

    /// Gives up the batches under way without acknowledging them (see
    /// [`crate::ack::Delivery::abandon`]).
    fn abandon(self) {
        for batch in self.groups.into_iter().flatten() {
            batch.delivery.abandon();
        }
    }
}

/// Runs until every sender of `inbox` is gone and everything received is acknowledged.
///
/// A failed write or flush is retried with capped exponential backoff, forever. A flush
/// that fails after it started (a broker that stopped answering) is written again once
/// it is the oldest under way, so its records may land after those of later flushes: a
/// retry can reorder, as any producer's can with several requests in flight. Broker
/// sinks retry on their own first (the Kafka producer is idempotent and retries without
/// reordering until its delivery timeout), so this is the rare path.
pub async fn run<S: Sink>(mut sink: S, name: String, mut inbox: mpsc::Receiver<SinkBatch>) {
    let mut in_flight = InFlight::default();
    let mut receiving = true;
    loop {
        tokio::select! {
            biased;
            Some((group, outcome)) = in_flight.next() => {
                let refused = match outcome {
                    Ok(refused) => refused,
                    Err(error) => write_again(&mut sink, &name, &group, error).await,
                };
                let refused = write_slim(&mut sink, &name, &group, refused).await;
                deliver(&name, group, refused).await;
            }
            group = receive(&mut inbox), if receiving && in_flight.len() < MAX_FLUSHES_IN_FLIGHT => match group {
                Some(group) => {
                    let flushing = start_flush(&mut sink, &name, &group).await;
                    in_flight.push(group, flushing);
                }
                None => receiving = false,
            },
            else => return,
        }
    }
}

/// Everything queued in `inbox`, up to a flush's worth; `None` once every sender is gone.
async fn receive(inbox: &mut mpsc::Receiver<SinkBatch>) -> Option<Vec<SinkBatch>> {
    let mut group = Vec::with_capacity(MAX_BATCHES_PER_FLUSH);
    (inbox.recv_many(&mut group, MAX_BATCHES_PER_FLUSH).await > 0).then_some(group)
}

/// Writes `group` and starts its flush, retrying until the sink takes it.
async fn start_flush<S: Sink>(sink: &mut S, name: &str, group: &[SinkBatch]) -> Flushing {
    let mut backoff = Backoff::default();
    loop {
        match write_group(sink, group).await {
            Ok(flushing) => return flushing,
            Err(error) => backoff.wait(name, &error).await,
        }
    }
}

/// Writes the records of a failed flush again and waits for each attempt, until one
/// goes through.
async fn write_again<S: Sink>(sink: &mut S, name: &str, group: &[SinkBatch], error: anyhow::Error) -> Vec<Refused> {
    let mut backoff = Backoff::default();
    let mut error = error;
    loop {
        backoff.wait(name, &error).await;
        match async { write_group(sink, group).await?.await }.await {
            Ok(refused) => return refused,
            Err(again) => error = again,
        }
    }
}

/// Writes again, [slim](crate::dead_letter::slim), the records this sink refused that
/// have nowhere else to go (dead letters, when this is the dead-letter sink), and returns
/// what it refused, those it refused even slim among them.
async fn write_slim<S: Sink>(sink: &mut S, name: &str, group: &[SinkBatch], refused: Vec<Refused>) -> Vec<Refused> {
    let (last_resort, mut refused): (Vec<Refused>, Vec<Refused>) =
        refused.into_iter().partition(|r| nowhere_else(name, batch_of(group, r.index).0));
    if last_resort.is_empty() {
        return refused;
    }
    tracing::warn!(
        sink = name,
        records = last_resort.len(),
        first_reason = %last_resort[0].reason,
        "the dead-letter sink refused dead letters; writing them again without their key, value and other headers"
    );
    let slim: Vec<Record> = last_resort
        .iter()
        .map(|r| {
            let (batch, at) = batch_of(group, r.index);
            crate::dead_letter::slim(&batch.records[at], &r.reason)
        })
        .collect();
    let mut backoff = Backoff::default();
    let again = loop {
        match async {
            sink.write(None, &slim).await?;
            sink.flush().await?.await
        }
        .await
        {
            Ok(again) => break again,
            Err(error) => backoff.wait(name, &error).await,
        }
    };
    refused.extend(again.into_iter().map(|Refused { index, reason }| {
        let first = &last_resort[index];
        Refused {
            index: first.index,
            reason: format!("{} (and even without its key, value and headers: {reason})", first.reason),
        }
    }));
    refused
}

/// Whether records of `batch` that sink `name` refuses have nowhere else to go: they are
/// dead letters already, or this sink is their pipeline's dead-letter sink.
fn nowhere_else(name: &str, batch: &SinkBatch) -> bool {
    batch.refused_to.as_ref().is_none_or(|to| to.dead_letter.name == name)
}

/// The batch of `group` that holds record `index` of the group, and its index there.
fn batch_of(group: &[SinkBatch], mut index: usize) -> (&SinkBatch, usize) {
    for batch in group {
        match index.checked_sub(batch.records.len()) {
            Some(rest) => index = rest,
            None => return (batch, index),
        }
    }
    panic!("a sink refused record {index} past the end of what it was given")
}

/// Capped exponential backoff between attempts at a failing sink.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(FIRST_BACKOFF)
    }
}

impl Backoff {
    async fn wait(&mut self, sink: &str, error: &anyhow::Error) {
        tracing::error!(sink, error = format!("{error:#}"), retry_in = ?self.0, "sink write failed; retrying");
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
    }
}

/// How often a transactional sink with `interval` zero looks for source positions to
/// commit when no records come (a pipeline that filters everything still commits).
const IDLE_COMMIT_CHECK: Duration = Duration::from_millis(100);

/// Runs a transactional sink until every sender of `inbox` is gone, committing every
/// `interval` (after every write when zero) and whenever the source asks (`requests`:
/// before it releases partitions). Stops at the first failure, after aborting.
pub async fn run_transactional<S: TransactionalSink>(
    mut sink: S,
    name: String,
    mut inbox: mpsc::Receiver<SinkBatch>,
    mut requests: mpsc::UnboundedReceiver<CommitRequest>,
    interval: Duration,
) {
    let mut transaction = Transaction { in_flight: InFlight::default(), flushed: Vec::new() };
    let mut ticker = tokio::time::interval(if interval.is_zero() { IDLE_COMMIT_CHECK } else { interval });
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let outcome: anyhow::Result<()> = async {
        loop {
            tokio::select! {
                biased;
                Some(reply) = requests.recv() => {
                    let committed = transaction.commit(&mut sink, &name).await;
                    let _ = reply.send(committed.as_ref().map(drop).map_err(|e| format!("{e:#}")));
                    committed?;
                }
                _ = ticker.tick() => transaction.commit(&mut sink, &name).await?,
                Some((group, outcome)) = transaction.in_flight.next() => transaction.flushed(&name, group, outcome?).await,
                group = receive(&mut inbox), if transaction.in_flight.len() < MAX_FLUSHES_IN_FLIGHT => {
                    let Some(group) = group else {
                        return transaction.commit(&mut sink, &name).await;
                    };
                    let flushing = write_group(&mut sink, &group).await?;
                    transaction.in_flight.push(group, flushing);
                    if interval.is_zero() {
                        transaction.commit(&mut sink, &name).await?;
                    }
                }
            }
        }
    }
    .await;
    if let Err(error) = outcome {
        let reason = format!("sink `{name}`: {error:#}");
        tracing::error!(sink = %name, error = format!("{error:#}"), "the transaction failed; aborting it and stopping the pipeline, which restarts from the last committed transaction");
        sink.abort(&reason).await;
        // Their records are read again after the restart; the reason is logged above.
        transaction.in_flight.abandon();
        inbox.close();
        while let Ok(batch) = inbox.try_recv() {
            batch.delivery.abandon();
        }
    }
}

/// What the open transaction holds: flushes under way, and batches flushed and
/// acknowledged, whose source positions the commit must wait for.
struct Transaction {
    in_flight: InFlight,
    flushed: Vec<CommitWatch>,
}

impl Transaction {
    async fn flushed(&mut self, name: &str, group: Vec<SinkBatch>, refused: Vec<Refused>) {
        self.flushed.extend(group.iter().map(|batch| batch.delivery.commit_watch()));
        deliver(name, group, refused).await;
    }

    /// Commits once every flush is done and the source has committed past every batch
    /// in the transaction.
    async fn commit<S: TransactionalSink>(&mut self, sink: &mut S, name: &str) -> anyhow::Result<()> {
        while let Some((group, outcome)) = self.in_flight.next().await {
            self.flushed(name, group, outcome?).await;
        }
        let timeout = sink.transaction_timeout();
        tokio::time::timeout(timeout, async {
            for batch in &self.flushed {
                batch.committed().await;
            }
        })
        .await
        .with_context(|| {
            format!(
                "the source did not commit past the transaction's batches within the transaction timeout ({timeout:?})"
            )
        })?;
        self.flushed.clear();
        sink.commit().await
    }
}

/// Dead-letters what the sink refused, then acknowledges the group.
async fn deliver(name: &str, group: Vec<SinkBatch>, refused: Vec<Refused>) {
    if !refused.is_empty() {
        dead_letter_refused(name, &group, refused).await;
    }
    for batch in group {
        batch.delivery.accept();
    }
}

async fn write_group<S: Sink>(sink: &mut S, group: &[SinkBatch]) -> anyhow::Result<Flushing> {
    for batch in group {
        sink.write(batch.route.as_deref(), &batch.records).await?;
    }
    sink.flush().await
}

/// Sends refused records to their pipelines' dead-letter sinks, each with a share of its
/// batch's acknowledgement, so the batch completes only once they are accepted there.
async fn dead_letter_refused(sink: &str, group: &[SinkBatch], mut refused: Vec<Refused>) {
    refused.sort_by_key(|r| r.index);
    let mut refused = refused.into_iter().peekable();
    let mut first = 0;
    for batch in group {
        let end = first + batch.records.len();
        let mut dead = Vec::new();
        let mut first_reason = None;
        while let Some(Refused { index, reason }) = refused.next_if(|r| r.index < end) {
            first_reason.get_or_insert_with(|| reason.clone());
            let mut record: Record = batch.records[index - first].clone();
            record.push_header("sluice.error", crate::dead_letter::reason(reason));
            record.push_header("sluice.sink", sink.to_owned());
            dead.push(record);
        }
        first = end;
        if dead.is_empty() {
            continue;
        }
        match &batch.refused_to {
            Some(RefusedTo { pipeline, dead_letter }) if dead_letter.name != sink => {
                for record in &mut dead {
                    record.push_header("sluice.pipeline", pipeline.to_string());
                }
                let letters =
                    SinkBatch { route: None, records: dead, delivery: batch.delivery.share(), refused_to: None };
                if dead_letter.inbox.send(letters).await.is_err() {
                    tracing::error!(sink, dead_letter = %dead_letter.name, "the dead-letter sink stopped; the batch stays unacknowledged");
                }
            }
            // Refused by the dead-letter sink itself: there is nowhere left to put them, so
            // the batch is not acknowledged and its source stops before it.
            _ => {
                batch.delivery.share().fail(format!(
                    "the dead-letter sink `{sink}` refused {} record(s), which have nowhere else to go (the first: {})",
                    dead.len(),
                    first_reason.unwrap_or_default()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ack::{AckTracker, BatchAck, Completion};
    use crate::router::SinkHandle;

    /// Counts the commits that got past the driver's wait.
    struct CountingSink(Arc<AtomicUsize>);

    impl Sink for CountingSink {
        async fn write(&mut self, _: Option<&str>, _: &[Record]) -> anyhow::Result<()> {
            Ok(())
        }

        async fn flush(&mut self) -> anyhow::Result<Flushing> {
            Ok(Flushing::done(Vec::new()))
        }
    }

    impl TransactionalSink for CountingSink {
        async fn commit(&mut self) -> anyhow::Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }

        async fn abort(&mut self, reason: &str) {
            panic!("nothing fails here: {reason}");
        }

        fn transaction_timeout(&self) -> Duration {
            Duration::from_secs(10)
        }
    }

    /// A flush the test completes by hand, with the values it covers.
    type RemoteFlush = (Vec<String>, tokio::sync::oneshot::Sender<anyhow::Result<Vec<Refused>>>);

    /// Like a broker: `flush` returns at once, and the test says when (and whether) the
    /// records arrived.
    struct RemoteSink {
        written: Vec<String>,
        flushes: mpsc::UnboundedSender<RemoteFlush>,
    }

    impl Sink for RemoteSink {
        async fn write(&mut self, _: Option<&str>, records: &[Record]) -> anyhow::Result<()> {
            let values = records.iter().map(|r| String::from_utf8_lossy(r.value().unwrap()).into_owned());
            self.written.extend(values);
            Ok(())
        }

        async fn flush(&mut self) -> anyhow::Result<Flushing> {
            let (done, outcome) = tokio::sync::oneshot::channel();
            self.flushes.send((std::mem::take(&mut self.written), done)).unwrap();
            Ok(Flushing::later(async move { outcome.await? }))
        }
    }

    fn remote_sink() -> (mpsc::Sender<SinkBatch>, mpsc::UnboundedReceiver<RemoteFlush>) {
        let (flushes_tx, flushes) = mpsc::unbounded_channel();
        let (inbox_tx, inbox) = mpsc::channel(4);
        tokio::spawn(run(RemoteSink { written: Vec::new(), flushes: flushes_tx }, "remote".into(), inbox));
        (inbox_tx, flushes)
    }

    /// A batch of one record whose acknowledgement reports `seq` on `completed`.
    fn batch(seq: u64, value: &str, completed: &mpsc::UnboundedSender<Completion>) -> SinkBatch {
        let ack = BatchAck::new(seq, completed.clone());
        let batch = SinkBatch {
            route: None,
            records: vec![Record::from_value(value.to_owned())],
            delivery: ack.delivery(),
            refused_to: None,
        };
        ack.dispatched();
        batch
    }

    #[tokio::test]
    async fn a_remote_sink_writes_on_while_a_flush_is_under_way_and_acknowledges_in_order() {
        let (inbox, mut flushes) = remote_sink();
        let (completed_tx, mut completed) = mpsc::unbounded_channel();

        inbox.send(batch(0, "a", &completed_tx)).await.unwrap();
        let (values, first) = flushes.recv().await.unwrap();
        assert_eq!(values, ["a"]);
        inbox.send(batch(1, "b", &completed_tx)).await.unwrap();
        let (values, second) = tokio::time::timeout(Duration::from_secs(5), flushes.recv())
            .await
            .expect("the second batch is written while the first flush is still under way")
            .unwrap();
        assert_eq!(values, ["b"]);

        second.send(Ok(Vec::new())).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(completed.try_recv().is_err(), "nothing is acknowledged before the older flush is done");
        first.send(Ok(Vec::new())).unwrap();
        assert_eq!(completed.recv().await, Some(Completion::Delivered(0)));
        assert_eq!(completed.recv().await, Some(Completion::Delivered(1)));
    }

    #[tokio::test]
    async fn a_flush_that_fails_after_it_started_is_written_again_before_its_batch_is_acknowledged() {
        let (inbox, mut flushes) = remote_sink();
        let (completed_tx, mut completed) = mpsc::unbounded_channel();

        inbox.send(batch(0, "a", &completed_tx)).await.unwrap();
        let (_, first) = flushes.recv().await.unwrap();
        first.send(Err(anyhow::anyhow!("the broker stopped answering"))).unwrap();
        let (values, again) = flushes.recv().await.unwrap();
        assert_eq!(values, ["a"], "the failed flush's records are written again");
        assert!(completed.try_recv().is_err(), "a failed flush acknowledges nothing");
        again.send(Ok(Vec::new())).unwrap();
        assert_eq!(completed.recv().await, Some(Completion::Delivered(0)));
    }

    /// Refuses every record whose value is `refuse`, as a broker refuses one too large,
    /// and, if the flag is set, every slim dead letter.
    struct RefusingSink(Vec<bool>, bool);

    impl Sink for RefusingSink {
        async fn write(&mut self, _: Option<&str>, records: &[Record]) -> anyhow::Result<()> {
            let slim = |r: &Record| r.headers().any(|(name, _)| name == "sluice.dead_letter");
            self.0.extend(records.iter().map(|r| r.value() == Some(b"refuse".as_slice()) || (self.1 && slim(r))));
            Ok(())
        }

        async fn flush(&mut self) -> anyhow::Result<Flushing> {
            let refused = std::mem::take(&mut self.0).into_iter().enumerate().filter(|(_, refuse)| *refuse);
            Ok(Flushing::done(refused.map(|(index, _)| Refused { index, reason: "too large".into() }).collect()))
        }
    }

    /// Sends the dead-letter sink `dlq`, which refuses slim dead letters if `refuse_slim`,
    /// a dead letter it refuses (batch 0), a routed record refused by a sink that is its own
    /// pipeline's dead-letter sink (batch 1), and a record it takes (batch 2).
    async fn refused_by_the_dead_letter_sink(refuse_slim: bool) -> mpsc::UnboundedReceiver<Completion> {
        let (completed_tx, completed) = mpsc::unbounded_channel();
        let (inbox_tx, inbox) = mpsc::channel(4);
        tokio::spawn(run(RefusingSink(Vec::new(), refuse_slim), "dlq".into(), inbox));
        let dead_letter = SinkHandle { name: "dlq".into(), inbox: inbox_tx.clone() };
        inbox_tx.send(batch(0, "refuse", &completed_tx)).await.unwrap();
        let mut routed = batch(1, "refuse", &completed_tx);
        routed.refused_to = Some(RefusedTo { pipeline: "p".into(), dead_letter });
        inbox_tx.send(routed).await.unwrap();
        inbox_tx.send(batch(2, "fine", &completed_tx)).await.unwrap();
        completed
    }

    #[tokio::test]
    async fn a_dead_letter_its_sink_refuses_is_written_again_slim() {
        let mut completed = refused_by_the_dead_letter_sink(false).await;
        for seq in 0..3 {
            assert_eq!(completed.recv().await, Some(Completion::Delivered(seq)));
        }
    }

    #[tokio::test]
    async fn what_a_dead_letter_sink_refuses_even_slim_leaves_its_batch_unacknowledged() {
        let mut completed = refused_by_the_dead_letter_sink(true).await;
        for seq in [0, 1] {
            let Some(Completion::Lost(lost, why)) = completed.recv().await else { panic!("batch {seq} is lost") };
            assert_eq!(lost, seq);
            assert_eq!(
                why,
                "the dead-letter sink `dlq` refused 1 record(s), which have nowhere else to go (the first: too large (and even without its key, value and headers: too large))"
            );
        }
        assert_eq!(completed.recv().await, Some(Completion::Delivered(2)));
    }

    #[tokio::test]
    async fn a_transaction_commits_only_once_the_source_committed_past_its_batches() {
        let (completed_tx, mut completed) = mpsc::unbounded_channel();
        let mut source = AckTracker::default();
        let ack = BatchAck::new(0, completed_tx);
        source.sent(0, 10, ack.commit_watch());

        let commits = Arc::new(AtomicUsize::new(0));
        let (inbox_tx, inbox) = mpsc::channel(4);
        let (requests_tx, requests) = mpsc::unbounded_channel();
        let interval = Duration::from_millis(10);
        let sink =
            tokio::spawn(run_transactional(CountingSink(commits.clone()), "t".into(), inbox, requests, interval));
        let batch = SinkBatch {
            route: Some("r".into()),
            records: vec![Record::from_value("x")],
            delivery: ack.delivery(),
            refused_to: None,
        };
        inbox_tx.send(batch).await.unwrap();
        ack.dispatched();

        assert_eq!(
            completed.recv().await,
            Some(Completion::Delivered(0)),
            "the sink accepts the batch once it is flushed"
        );
        tokio::time::sleep(interval * 5).await;
        assert_eq!(commits.load(Ordering::SeqCst), 0, "the source has not committed past the batch yet");

        assert_eq!(source.completed(0), Some(10));
        source.committed();
        let (reply, committed) = tokio::sync::oneshot::channel();
        requests_tx.send(reply).unwrap();
        assert_eq!(committed.await.unwrap(), Ok(()));
        assert!(commits.load(Ordering::SeqCst) >= 1);

        drop(inbox_tx);
        tokio::time::timeout(Duration::from_secs(5), sink).await.unwrap().unwrap();
    }
}
