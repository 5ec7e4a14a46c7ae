//! Acknowledgements: how a source learns that its records are safe to forget.
//!
//! A batch leaves its source with a [`BatchAck`]. The router splits the batch into one
//! [`Delivery`] per sink it touches; each sink accepts its delivery once the records are
//! durably written. When the last delivery is accepted the batch is complete, and the
//! source's [`AckTracker`] turns completions, which arrive in any order, into in-order
//! checkpoints that the source may commit. A record that a plugin filtered out or that was
//! dead-lettered completes like any other: its dead-letter write is a delivery too.
//!
//! A delivery dropped without being accepted (a sink that gave up, a task that died) never
//! completes its batch, so the source never commits past it and the records are read
//! again after a restart: at-least-once, never at-most-once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// Identifies a batch within its source, in the order the source emitted them.
pub type BatchSeq = u64;

/// Opaque to everything but the source that made it: where to resume after a record.
pub type Checkpoint = u64;

struct Pending {
    outstanding: AtomicUsize,
    seq: BatchSeq,
    /// Unbounded, yet bounded in practice: at most one message per batch in flight, and
    /// the channels that carry batches are bounded.
    completed: mpsc::UnboundedSender<BatchSeq>,
}

impl Pending {
    fn release(&self) {
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The receiver is gone only when the source stopped; nothing left to tell.
            let _ = self.completed.send(self.seq);
        }
    }
}

/// The completion handle of one batch, held by whoever is distributing its records.
/// Dropping it (after creating the deliveries) releases the distributor's own hold.
pub struct BatchAck(Arc<Pending>);

impl BatchAck {
    pub fn new(seq: BatchSeq, completed: mpsc::UnboundedSender<BatchSeq>) -> Self {
        BatchAck(Arc::new(Pending { outstanding: AtomicUsize::new(1), seq, completed }))
    }

    /// A share of the batch that some sink must accept before the batch completes.
    pub fn delivery(&self) -> Delivery {
        self.0.outstanding.fetch_add(1, Ordering::Relaxed);
        Delivery(Some(self.0.clone()))
    }
}

impl Drop for BatchAck {
    fn drop(&mut self) {
        self.0.release();
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

    /// The sink has durably accepted these records.
    pub fn accept(mut self) {
        if let Some(pending) = self.0.take() {
            pending.release();
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(pending) = &self.0 {
            tracing::warn!(
                batch = pending.seq,
                "a delivery was dropped unaccepted; its batch will not be acknowledged"
            );
        }
    }
}

/// Turns out-of-order batch completions into the checkpoint the source may commit: the
/// one after the longest run of completed batches from the oldest outstanding one.
#[derive(Default)]
pub struct AckTracker {
    /// Outstanding batches, oldest first, with their last checkpoint and completion.
    batches: VecDeque<(BatchSeq, Checkpoint, bool)>,
}

impl AckTracker {
    /// Records a batch that was just sent downstream. Sequences must increase.
    pub fn sent(&mut self, seq: BatchSeq, last: Checkpoint) {
        debug_assert!(self.batches.back().is_none_or(|&(s, _, _)| s < seq));
        self.batches.push_back((seq, last, false));
    }

    /// Marks `seq` complete; returns the checkpoint to commit if the completed prefix grew.
    pub fn completed(&mut self, seq: BatchSeq) -> Option<Checkpoint> {
        let index = self.batches.binary_search_by_key(&seq, |&(s, _, _)| s).ok()?;
        self.batches[index].2 = true;
        let mut commit = None;
        while let Some(&(_, checkpoint, true)) = self.batches.front() {
            commit = Some(checkpoint);
            self.batches.pop_front();
        }
        commit
    }

    /// Batches sent and not yet complete.
    pub fn outstanding(&self) -> usize {
        self.batches.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_commits_only_the_completed_prefix() {
        let mut t = AckTracker::default();
        t.sent(1, 10);
        t.sent(2, 20);
        t.sent(3, 30);
        assert_eq!(t.completed(2), None, "batch 1 is still outstanding");
        assert_eq!(t.completed(1), Some(20));
        assert_eq!(t.completed(3), Some(30));
        assert_eq!(t.outstanding(), 0);
        assert_eq!(t.completed(3), None, "a repeated completion is ignored");
    }

    #[test]
    fn batch_completes_when_every_delivery_is_accepted() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ack = BatchAck::new(7, tx);
        let a = ack.delivery();
        let b = ack.delivery();
        drop(ack);
        a.accept();
        assert!(rx.try_recv().is_err(), "one delivery is still out");
        b.accept();
        assert_eq!(rx.try_recv().unwrap(), 7);
    }

    #[test]
    fn a_shared_delivery_holds_its_batch_until_both_are_accepted() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ack = BatchAck::new(5, tx);
        let sink = ack.delivery();
        drop(ack);
        let dead_letter = sink.share();
        sink.accept();
        assert!(rx.try_recv().is_err(), "the dead-letter share is still out");
        dead_letter.accept();
        assert_eq!(rx.try_recv().unwrap(), 5);
    }

    #[test]
    fn a_batch_with_no_deliveries_completes_when_released() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        drop(BatchAck::new(3, tx));
        assert_eq!(rx.try_recv().unwrap(), 3);
    }

    #[test]
    fn a_dropped_delivery_never_completes_its_batch() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ack = BatchAck::new(1, tx);
        let lost = ack.delivery();
        drop(ack);
        drop(lost);
        assert!(rx.try_recv().is_err());
    }
}
