//! Acknowledgements: how a source learns that its records are safe to forget.
//!
//! A batch leaves its source with a [`BatchAck`]. The router splits the batch into one
//! [`Delivery`] per sink it touches; each sink accepts its delivery once the records are
//! durably written. When the last delivery is accepted the batch is complete, and the
//! source's [`AckTracker`] turns completions, which arrive in any order, into in-order
//! checkpoints that the source may commit. A record that a plugin filtered out or that was
//! dead-lettered completes like any other: its dead-letter write is a delivery too.
//!
//! A sink that makes records visible only when it commits a transaction (Kafka in
//! exactly-once mode) needs one more step: it must not commit until the source has
//! committed past every batch in the transaction, so that records and source positions
//! become durable together. [`CommitWatch`] is how it waits for that.
//!
//! Completion is always explicit. A distributor that drops its [`BatchAck`] without calling
//! [`BatchAck::dispatched`] (a worker that panicked, an early return) and a delivery
//! dropped without being accepted (a sink task that died) report the batch
//! [`Completion::Lost`]: the source commits nothing from that batch on, and its lane
//! stops with the reason, so that the records are read again after a restart. Dropping
//! is never taken for success: at-least-once, never at-most-once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};

/// Identifies a batch within its source, in the order the source emitted them.
pub type BatchSeq = u64;

/// Opaque to everything but the source that made it: where to resume after a record.
pub type Checkpoint = u64;

/// What became of a batch, as its source hears it.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    /// Every share was accepted: the source may commit past the batch.
    Delivered(BatchSeq),
    /// A share was dropped without being accepted, for the reason given: nothing from
    /// this batch on may be committed.
    Lost(BatchSeq, String),
}

struct Pending {
    outstanding: AtomicUsize,
    seq: BatchSeq,
    /// Unbounded, yet bounded in practice: at most two messages per batch in flight, and
    /// the channels that carry batches are bounded.
    completed: mpsc::UnboundedSender<Completion>,
    /// Set once a share was lost; the batch then never reports `Delivered`.
    lost: AtomicBool,
    /// Set once the source has committed past this batch.
    committed: AtomicBool,
    committed_changed: Notify,
}

impl Pending {
    fn release(&self) {
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 && !self.lost.load(Ordering::Acquire) {
            // The receiver is gone only when the source stopped; nothing left to tell.
            let _ = self.completed.send(Completion::Delivered(self.seq));
        }
    }

    /// Reports the batch lost, once, however many of its shares are dropped.
    fn lose(&self, why: impl Into<String>) {
        if !self.lost.swap(true, Ordering::AcqRel) {
            let why = why.into();
            tracing::error!(batch = self.seq, why, "a batch was not delivered; its source commits nothing from it on");
            let _ = self.completed.send(Completion::Lost(self.seq, why));
            // A transactional sink waiting for the source to commit past it would wait forever.
            self.committed_changed.notify_waiters();
        }
    }
}

/// The completion handle of one batch, held by whoever is distributing its records.
/// [`BatchAck::dispatched`] releases the distributor's own hold once every delivery is
/// created; dropping it instead means the batch was not distributed, and loses it.
pub struct BatchAck(Option<Arc<Pending>>);

impl BatchAck {
    pub fn new(seq: BatchSeq, completed: mpsc::UnboundedSender<Completion>) -> Self {
        BatchAck(Some(Arc::new(Pending {
            outstanding: AtomicUsize::new(1),
            seq,
            completed,
            lost: AtomicBool::new(false),
            committed: AtomicBool::new(false),
            committed_changed: Notify::new(),
        })))
    }

    fn pending(&self) -> &Arc<Pending> {
        self.0.as_ref().expect("a batch ack is used before it is dispatched")
    }

    /// For the source's tracker, which marks the batch committed.
    pub fn commit_watch(&self) -> CommitWatch {
        CommitWatch(self.pending().clone())
    }

    /// A share of the batch that some sink must accept before the batch completes.
    pub fn delivery(&self) -> Delivery {
        let pending = self.pending();
        pending.outstanding.fetch_add(1, Ordering::Relaxed);
        Delivery(Some(pending.clone()))
    }

    /// Every record of the batch was handed on (each delivery created): the batch now
    /// completes when the last delivery is accepted, at once if there is none.
    pub fn dispatched(mut self) {
        if let Some(pending) = self.0.take() {
            pending.release();
        }
    }
}

impl Drop for BatchAck {
    fn drop(&mut self) {
        if let Some(pending) = self.0.take() {
            pending.lose("the batch was dropped before all of it was handed to its sinks");
        }
    }
}

/// One sink's share of a batch.
pub struct Delivery(Option<Arc<Pending>>);

impl Delivery {
    /// Another share of the same batch, for records this sink hands on to another (a
    /// refused record sent to the dead-letter sink): the batch completes only when both
    /// are accepted.
    pub fn share(&self) -> Delivery {
        let pending = self.0.as_ref().expect("a delivery is shared before it is accepted");
        pending.outstanding.fetch_add(1, Ordering::Relaxed);
        Delivery(Some(pending.clone()))
    }

    /// For a transactional sink, to wait until the source has committed past this batch.
    pub fn commit_watch(&self) -> CommitWatch {
        CommitWatch(self.0.clone().expect("watched before it is accepted"))
    }

    /// The sink has durably accepted these records.
    pub fn accept(mut self) {
        if let Some(pending) = self.0.take() {
            pending.release();
        }
    }

    /// These records cannot be delivered anywhere (the dead-letter sink itself refused
    /// them): the batch is lost, for `why`, and its source stops before it.
    pub fn fail(mut self, why: String) {
        if let Some(pending) = self.0.take() {
            pending.lose(why);
        }
    }

    /// Gives the batch up on purpose, leaving it unacknowledged without a warning: for a
    /// sink that stops after saying why (a failed transaction), whose records are read
    /// again after the restart.
    pub fn abandon(mut self) {
        self.0 = None;
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(pending) = &self.0 {
            pending.lose("a sink dropped its share of the batch without accepting it");
        }
    }
}

/// Whether a batch's source has committed past it, that is, stored or sent its position
/// upstream. A transactional sink waits for this on every batch in a transaction before
/// committing the transaction.
#[derive(Clone)]
pub struct CommitWatch(Arc<Pending>);

impl CommitWatch {
    /// Resolves once the source has committed past the batch, or with an error once the
    /// batch was lost (then it never will).
    pub async fn committed(&self) -> anyhow::Result<()> {
        loop {
            let changed = self.0.committed_changed.notified();
            if self.0.committed.load(Ordering::Acquire) {
                return Ok(());
            }
            if self.0.lost.load(Ordering::Acquire) {
                anyhow::bail!("batch {} was lost, so the source will not commit past it", self.0.seq);
            }
            changed.await;
        }
    }

    fn set_committed(&self) {
        self.0.committed.store(true, Ordering::Release);
        self.0.committed_changed.notify_waiters();
    }
}

/// Turns out-of-order batch completions into the checkpoint the source may commit: the
/// one after the longest run of completed batches from the oldest outstanding one.
#[derive(Default)]
pub struct AckTracker {
    /// Outstanding batches, oldest first, with their last checkpoint and completion.
    batches: VecDeque<(BatchSeq, Checkpoint, bool, CommitWatch)>,
    /// Batches completed in order whose checkpoint the source has not committed yet.
    committing: Vec<CommitWatch>,
}

impl AckTracker {
    /// Records a batch that was just sent downstream. Sequences must increase.
    pub fn sent(&mut self, seq: BatchSeq, last: Checkpoint, watch: CommitWatch) {
        debug_assert!(self.batches.back().is_none_or(|&(s, ..)| s < seq));
        self.batches.push_back((seq, last, false, watch));
    }

    /// Marks `seq` complete; returns the checkpoint to commit if the completed prefix grew.
    /// A lost batch is never marked: it holds back every later checkpoint for good.
    pub fn completed(&mut self, seq: BatchSeq) -> Option<Checkpoint> {
        let index = self.batches.binary_search_by_key(&seq, |&(s, ..)| s).ok()?;
        self.batches[index].2 = true;
        let mut commit = None;
        while let Some(&(_, checkpoint, true, _)) = self.batches.front() {
            commit = Some(checkpoint);
            let (.., watch) = self.batches.pop_front().expect("front exists");
            self.committing.push(watch);
        }
        commit
    }

    /// The source committed the last checkpoint [`AckTracker::completed`] returned.
    pub fn committed(&mut self) {
        for watch in self.committing.drain(..) {
            watch.set_committed();
        }
    }

    /// Batches sent and not yet complete.
    pub fn outstanding(&self) -> usize {
        self.batches.len()
    }

    /// Whether a batch older than `seq` is still outstanding.
    pub fn outstanding_before(&self, seq: BatchSeq) -> bool {
        self.batches.front().is_some_and(|&(oldest, ..)| oldest < seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_commits_only_the_completed_prefix() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let watch = |seq| BatchAck::new(seq, tx.clone()).commit_watch();
        let mut t = AckTracker::default();
        t.sent(1, 10, watch(1));
        t.sent(2, 20, watch(2));
        t.sent(3, 30, watch(3));
        assert_eq!(t.completed(2), None, "batch 1 is still outstanding");
        assert_eq!(t.completed(1), Some(20));
        assert_eq!(t.completed(3), Some(30));
        assert_eq!(t.outstanding(), 0);
        assert_eq!(t.completed(3), None, "a repeated completion is ignored");
    }

    #[tokio::test]
    async fn a_commit_watch_resolves_once_the_source_committed_past_its_batch() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let (first, second) = (BatchAck::new(1, tx.clone()), BatchAck::new(2, tx));
        let mut t = AckTracker::default();
        t.sent(1, 10, first.commit_watch());
        t.sent(2, 20, second.commit_watch());
        let delivery = second.delivery();
        let watch = delivery.commit_watch();
        first.dispatched();
        second.dispatched();
        let waiter = tokio::spawn(async move { watch.committed().await.unwrap() });
        assert_eq!(t.completed(2), None);
        t.committed();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "batch 1 holds the checkpoint back");
        assert_eq!(t.completed(1), Some(20));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "completed is not committed yet");
        t.committed();
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter).await.unwrap().unwrap();
        delivery.accept();
    }

    #[tokio::test]
    async fn a_commit_watch_of_a_lost_batch_says_so_instead_of_waiting_forever() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let ack = BatchAck::new(1, tx);
        let (accepted, dropped) = (ack.delivery(), ack.delivery());
        let watch = accepted.commit_watch();
        ack.dispatched();
        let waiter = tokio::spawn(async move { watch.committed().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        accepted.accept();
        drop(dropped);
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(1), waiter).await.unwrap().unwrap();
        assert_eq!(outcome.unwrap_err().to_string(), "batch 1 was lost, so the source will not commit past it");
    }

    #[test]
    fn batch_completes_when_every_delivery_is_accepted() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ack = BatchAck::new(7, tx);
        let a = ack.delivery();
        let b = ack.delivery();
        ack.dispatched();
        a.accept();
        assert!(rx.try_recv().is_err(), "one delivery is still out");
        b.accept();
        assert_eq!(rx.try_recv().unwrap(), Completion::Delivered(7));
    }

    #[test]
    fn a_shared_delivery_holds_its_batch_until_both_are_accepted() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ack = BatchAck::new(5, tx);
        let sink = ack.delivery();
        ack.dispatched();
        let dead_letter = sink.share();
        sink.accept();
        assert!(rx.try_recv().is_err(), "the dead-letter share is still out");
        dead_letter.accept();
        assert_eq!(rx.try_recv().unwrap(), Completion::Delivered(5));
    }

    #[test]
    fn a_batch_with_no_deliveries_completes_when_dispatched() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        BatchAck::new(3, tx).dispatched();
        assert_eq!(rx.try_recv().unwrap(), Completion::Delivered(3));
    }

    #[test]
    fn a_batch_dropped_before_dispatch_is_lost_not_delivered() {
        // A worker that panics between taking a batch and handing it on drops its ack.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ack = BatchAck::new(4, tx);
        let written = ack.delivery();
        drop(ack);
        assert!(matches!(rx.try_recv().unwrap(), Completion::Lost(4, _)));
        written.accept();
        assert!(rx.try_recv().is_err(), "a lost batch never reports delivered");
    }

    #[test]
    fn a_dropped_delivery_loses_its_batch_once() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ack = BatchAck::new(1, tx);
        let (first, second) = (ack.delivery(), ack.delivery());
        ack.dispatched();
        drop(first);
        drop(second);
        assert!(matches!(rx.try_recv().unwrap(), Completion::Lost(1, _)));
        assert!(rx.try_recv().is_err(), "reported once");
    }

    #[test]
    fn an_abandoned_delivery_neither_completes_nor_reports_its_batch() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ack = BatchAck::new(2, tx);
        let delivery = ack.delivery();
        ack.dispatched();
        delivery.abandon();
        assert!(rx.try_recv().is_err());
    }
}
