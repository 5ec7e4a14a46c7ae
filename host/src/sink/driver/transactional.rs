//! The loop around a transactional sink: records and source positions made durable together.
//!
//! It differs from [`super::run`] in three ways. A failed write is not retried: it dooms
//! the transaction, so the transaction is aborted and the pipeline stops, to restart from
//! the last commit. Records are acknowledged when flushed but committed later, every
//! `interval`, once the source has committed past every batch in the transaction. And so
//! a commit waits for the pipeline's other sinks too (its dead-letter sink, a file sink
//! on a route): their shares of the batches must be accepted before the source commits
//! past them.
//!
//! Those sinks are at-least-once, and a slow one is backpressure: it must slow the
//! pipeline down, never fail it. But the broker aborts a transaction left open longer
//! than its timeout. So when the other sinks have not caught up by three quarters of the
//! timeout, the transaction is aborted here and its records kept (the sink stops taking
//! new ones, so the source stops reading); once the other sinks have accepted every batch
//! in it, the records are written again in a new transaction, which commits with the
//! source's positions. Nothing is lost or committed twice, and nothing is read meanwhile.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::refusals::deliver;
use super::{InFlight, MAX_FLUSHES_IN_FLIGHT, receive, write_group};
use crate::ack::CommitWatch;
use crate::record::Record;
use crate::sink::{CommitRequest, Refused, SinkBatch, TransactionalSink};

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
    let mut transaction = Transaction { in_flight: InFlight::default(), flushed: Vec::new(), opened: None };
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
                Some((group, outcome)) = transaction.in_flight.next() => transaction.flushed(&name, group, outcome?),
                group = receive(&mut inbox), if transaction.in_flight.len() < MAX_FLUSHES_IN_FLIGHT => {
                    let Some(group) = group else {
                        return transaction.commit(&mut sink, &name).await;
                    };
                    transaction.opened.get_or_insert_with(Instant::now);
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
    flushed: Vec<Flushed>,
    /// When its first records were written; `None` while it holds none.
    opened: Option<Instant>,
}

/// A batch in the open transaction: what the sink took of it, to write again should the
/// transaction be aborted, and how to know once the source has committed past it.
struct Flushed {
    watch: CommitWatch,
    route: Option<Arc<str>>,
    records: Vec<Record>,
}

impl Transaction {
    fn flushed(&mut self, name: &str, group: Vec<SinkBatch>, refused: Vec<Refused>) {
        if refused.is_empty() {
            // The common case: every record is in the transaction, kept without a copy.
            for mut batch in group {
                let records = std::mem::take(&mut batch.records);
                self.flushed.push(Flushed { watch: batch.delivery.commit_watch(), route: batch.route, records });
                batch.delivery.accept();
            }
            return;
        }
        // Refused records go to the dead-letter sink and are not in the transaction.
        let refused_at: HashSet<usize> = refused.iter().map(|r| r.index).collect();
        let mut first = 0;
        for batch in &group {
            let taken = batch.records.iter().enumerate().filter(|(i, _)| !refused_at.contains(&(first + i)));
            let records = taken.map(|(_, record)| record.clone()).collect();
            first += batch.records.len();
            self.flushed.push(Flushed { watch: batch.delivery.commit_watch(), route: batch.route.clone(), records });
        }
        // Dead letters wait for room in the dead-letter sink's inbox: on a task of their
        // own, so that the wait counts against the commit's deadline instead of holding
        // up this loop past it. The batches are accepted once their dead letters are sent.
        let name = name.to_owned();
        tokio::spawn(async move { deliver(&name, group, refused).await });
    }

    /// Commits once every flush is done and the source has committed past every batch
    /// in the transaction.
    async fn commit<S: TransactionalSink>(&mut self, sink: &mut S, name: &str) -> anyhow::Result<()> {
        while let Some((group, outcome)) = self.in_flight.next().await {
            self.flushed(name, group, outcome?);
        }
        let timeout = sink.transaction_timeout();
        let deadline = self.opened.unwrap_or_else(Instant::now) + timeout.mul_f64(0.75);
        match tokio::time::timeout_at(deadline, source_committed(&self.flushed)).await {
            Ok(committed) => committed?,
            Err(_) => self.write_again_later(sink, name, timeout).await?,
        }
        self.flushed.clear();
        self.opened = None;
        sink.commit().await
    }

    /// Aborts the transaction before the broker does, waits (without taking anything new)
    /// until the source has committed past its batches, and writes their records again
    /// in a new transaction, which the caller commits.
    async fn write_again_later<S: TransactionalSink>(
        &mut self,
        sink: &mut S,
        name: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let records: usize = self.flushed.iter().map(|b| b.records.len()).sum();
        tracing::warn!(
            sink = name,
            records,
            transaction_timeout = ?timeout,
            "the pipeline's other sinks have not accepted the transaction's batches in time; aborting the transaction before the broker does, and writing its records again once they have (the pipeline waits meanwhile)"
        );
        sink.discard().await?;
        // However long it takes, unless the source gives up meanwhile (a batch lost, a
        // revoked partition that could not drain): then the pipeline stops.
        tokio::select! {
            committed = source_committed(&self.flushed) => committed?,
            reason = sink.source_failed() => anyhow::bail!("not committing: {reason}"),
        }
        tracing::info!(
            sink = name,
            records,
            "the other sinks caught up; writing the aborted transaction's records again"
        );
        for batch in &self.flushed {
            sink.write(batch.route.as_deref(), &batch.records).await?;
        }
        let refused = sink.flush().await?.await?;
        anyhow::ensure!(
            refused.is_empty(),
            "{} record(s) that the aborted transaction held were refused when written again (the first: {})",
            refused.len(),
            refused[0].reason
        );
        Ok(())
    }
}

/// Resolves once the source has committed past every batch of `flushed`; `Err` once one
/// of them was lost, which the source will never commit past.
async fn source_committed(flushed: &[Flushed]) -> anyhow::Result<()> {
    for batch in flushed {
        batch.watch.committed().await?;
    }
    Ok(())
}
