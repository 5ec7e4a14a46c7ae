//! The loop around every sink: take what is queued, write it, flush once, dead-letter what
//! the sink refused, acknowledge.
//!
//! Draining everything queued before one flush is group commit: under load a file sink
//! fsyncs once per many batches, yet no batch waits for more than the flush it is in. A
//! failed write or flush is retried with capped exponential backoff, forever: the records
//! stay unacknowledged, the bounded channel in front of the sink fills, and the pipeline
//! slows down instead of losing or reordering anything.
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

use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::{CommitRequest, Refused, RefusedTo, Sink, SinkBatch, TransactionalSink};
use crate::ack::CommitWatch;
use crate::record::Record;

/// At most this many batches go into one flush.
const MAX_BATCHES_PER_FLUSH: usize = 64;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs until every sender of `inbox` is gone and everything received is acknowledged.
pub async fn run<S: Sink>(mut sink: S, name: String, mut inbox: mpsc::Receiver<SinkBatch>) {
    let mut group: Vec<SinkBatch> = Vec::with_capacity(MAX_BATCHES_PER_FLUSH);
    while inbox.recv_many(&mut group, MAX_BATCHES_PER_FLUSH).await > 0 {
        let mut backoff = FIRST_BACKOFF;
        let refused = loop {
            match write_group(&mut sink, &group).await {
                Ok(refused) => break refused,
                Err(error) => {
                    tracing::error!(sink = %name, error = format!("{error:#}"), retry_in = ?backoff, "sink write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        deliver(&name, &mut group, refused).await;
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
    let mut group: Vec<SinkBatch> = Vec::with_capacity(MAX_BATCHES_PER_FLUSH);
    let mut in_transaction: Vec<CommitWatch> = Vec::new();
    let mut ticker = tokio::time::interval(if interval.is_zero() { IDLE_COMMIT_CHECK } else { interval });
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let outcome: anyhow::Result<()> = async {
        loop {
            tokio::select! {
                biased;
                Some(reply) = requests.recv() => {
                    let committed = commit(&mut sink, &mut in_transaction).await;
                    let _ = reply.send(committed.as_ref().map(drop).map_err(|e| format!("{e:#}")));
                    committed?;
                }
                _ = ticker.tick() => commit(&mut sink, &mut in_transaction).await?,
                received = inbox.recv_many(&mut group, MAX_BATCHES_PER_FLUSH) => {
                    if received == 0 {
                        return commit(&mut sink, &mut in_transaction).await;
                    }
                    let refused = write_group(&mut sink, &group).await?;
                    in_transaction.extend(group.iter().map(|batch| batch.delivery.commit_watch()));
                    deliver(&name, &mut group, refused).await;
                    if interval.is_zero() {
                        commit(&mut sink, &mut in_transaction).await?;
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
    }
}

/// Commits once the source has committed past every batch in the transaction.
async fn commit<S: TransactionalSink>(sink: &mut S, in_transaction: &mut Vec<CommitWatch>) -> anyhow::Result<()> {
    let timeout = sink.transaction_timeout();
    tokio::time::timeout(timeout, async {
        for batch in in_transaction.iter() {
            batch.committed().await;
        }
    })
    .await
    .with_context(|| {
        format!("the source did not commit past the transaction's batches within the transaction timeout ({timeout:?})")
    })?;
    in_transaction.clear();
    sink.commit().await
}

/// Dead-letters what the sink refused, then acknowledges the group.
async fn deliver(name: &str, group: &mut Vec<SinkBatch>, refused: Vec<Refused>) {
    if !refused.is_empty() {
        dead_letter_refused(name, group, refused).await;
    }
    for batch in group.drain(..) {
        batch.delivery.accept();
    }
}

async fn write_group<S: Sink>(sink: &mut S, group: &[SinkBatch]) -> anyhow::Result<Vec<Refused>> {
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
        while let Some(Refused { index, reason }) = refused.next_if(|r| r.index < end) {
            let mut record: Record = batch.records[index - first].clone();
            record.push_header("sluice.error", reason);
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
            // Refused by the dead-letter sink itself: there is nowhere left to put them.
            _ => {
                for record in &dead {
                    tracing::error!(sink, ?record, "the dead-letter sink refused a record; it is dropped");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ack::{AckTracker, BatchAck};

    /// Counts the commits that got past the driver's wait.
    struct CountingSink(Arc<AtomicUsize>);

    impl Sink for CountingSink {
        async fn write(&mut self, _: Option<&str>, _: &[Record]) -> anyhow::Result<()> {
            Ok(())
        }

        async fn flush(&mut self) -> anyhow::Result<Vec<Refused>> {
            Ok(Vec::new())
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
        drop(ack);

        assert_eq!(completed.recv().await, Some(0), "the sink accepts the batch once it is flushed");
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
