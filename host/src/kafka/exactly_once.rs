//! Exactly-once from Kafka to Kafka: the consumer's offsets are committed inside the
//! producer's transaction, so a record's outputs and the position after it become
//! visible together, or not at all.
//!
//! The source and the sink of an exactly-once pipeline share one [`link`]:
//!
//! - the source's lanes, instead of storing offsets for the consumer to commit, hand
//!   them to the link once a batch is delivered ([`SourceLink::register`]);
//! - the sink's transactional driver ([`crate::sink::driver::run_transactional`]) commits
//!   a transaction every `transaction_interval`, first waiting until the source has
//!   registered the offsets of every batch whose records are in it; the sink then sends
//!   the registered offsets with the consumer's group metadata and commits;
//! - before partitions are released (rebalance, shutdown), the source asks for a commit
//!   and waits for it ([`SourceLink::commit_now`]), so the next owner starts exactly
//!   after the last committed transaction.
//!
//! A transaction that fails cannot be repaired in place: its records are discarded by
//! the abort, but the lanes have moved past them. The sink marks the link failed, the
//! source stops with the reason, and the host exits; on restart every partition resumes
//! from the last committed transaction. That is also how a zombie ends: an instance whose
//! partitions moved on (or whose `transactional.id` another instance took over) is fenced
//! by the broker and stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::sink::CommitRequest;

/// The source's and the sink's ends of one exactly-once pipeline.
pub fn link() -> (SourceLink, SinkLink) {
    let (requests_tx, requests) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        offsets: Mutex::default(),
        group: Mutex::default(),
        failed: CancellationToken::new(),
        failure: OnceLock::new(),
    });
    (SourceLink { shared: shared.clone(), requests: requests_tx }, SinkLink { shared, requests: Some(requests) })
}

struct Shared {
    /// The next offset to read, per partition, registered since the last commit.
    offsets: Mutex<HashMap<(Arc<str>, i32), i64>>,
    /// The consumer's group membership as of the last registered offsets: the broker
    /// fences offsets sent with an older generation or member epoch.
    group: Mutex<Option<Arc<ConsumerGroupMetadata>>>,
    failed: CancellationToken,
    failure: OnceLock<String>,
}

/// The source's end.
#[derive(Clone)]
pub struct SourceLink {
    shared: Arc<Shared>,
    requests: mpsc::UnboundedSender<CommitRequest>,
}

impl SourceLink {
    /// The consumer's membership of its group now; later commits carry it.
    pub fn set_group(&self, group: ConsumerGroupMetadata) {
        *self.shared.group.lock().expect("not poisoned") = Some(Arc::new(group));
    }

    /// Everything before `next` in this partition is delivered: commit `next` with the
    /// next transaction.
    pub fn register(&self, topic: &Arc<str>, partition: i32, next: i64) {
        self.shared.offsets.lock().expect("not poisoned").insert((topic.clone(), partition), next);
    }

    /// Commits what is registered now and waits for it: before partitions are released.
    pub async fn commit_now(&self) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        if self.requests.send(reply).is_err() {
            return Err(self.failure().unwrap_or_else(|| "the transactional sink has stopped".into()));
        }
        answer.await.unwrap_or_else(|_| Err(self.failure().unwrap_or_else(|| "the transactional sink stopped".into())))
    }

    /// Resolves when a transaction failed for good, with the reason.
    pub async fn failed(&self) -> String {
        self.shared.failed.cancelled().await;
        self.failure().expect("set before the token fires")
    }

    pub fn has_failed(&self) -> bool {
        self.shared.failed.is_cancelled()
    }

    /// The source cannot vouch for the open transaction any more (a revoked partition did
    /// not drain in time): it must not be committed.
    pub fn fail(&self, reason: String) {
        self.shared.fail(reason);
    }

    fn failure(&self) -> Option<String> {
        self.shared.failure.get().cloned()
    }
}

/// The sink's end.
pub struct SinkLink {
    shared: Arc<Shared>,
    requests: Option<mpsc::UnboundedReceiver<CommitRequest>>,
}

/// What a transaction commits on the source's behalf.
pub struct SourceOffsets {
    pub offsets: TopicPartitionList,
    pub group: Arc<ConsumerGroupMetadata>,
}

impl SinkLink {
    /// The source's requests to commit now; taken once, by the sink's driver.
    pub fn take_requests(&mut self) -> mpsc::UnboundedReceiver<CommitRequest> {
        self.requests.take().expect("the commit requests are taken once")
    }

    /// The offsets registered since the last call, or `None` if there are none (or the
    /// consumer has not joined its group yet, in which case none can be registered).
    pub fn take_offsets(&self) -> anyhow::Result<Option<SourceOffsets>> {
        let registered = std::mem::take(&mut *self.shared.offsets.lock().expect("not poisoned"));
        if registered.is_empty() {
            return Ok(None);
        }
        let group = self.shared.group.lock().expect("not poisoned").clone();
        let group = group.ok_or_else(|| anyhow::anyhow!("offsets were registered before the consumer joined"))?;
        let mut offsets = TopicPartitionList::with_capacity(registered.len());
        for ((topic, partition), next) in registered {
            offsets.add_partition_offset(&topic, partition, Offset::Offset(next))?;
        }
        Ok(Some(SourceOffsets { offsets, group }))
    }

    /// A transaction failed for good: the source stops with `reason`.
    pub fn fail(&self, reason: String) {
        self.shared.fail(reason);
    }

    /// Resolves when the source gave up on the open transaction, or a transaction failed
    /// for good, with the reason.
    pub async fn failed(&self) -> String {
        self.shared.failed.cancelled().await;
        self.failure().expect("set before the token fires").to_owned()
    }

    /// Why the pipeline is failing, if it is: then nothing more may be committed.
    pub fn failure(&self) -> Option<&str> {
        self.shared.failure.get().map(String::as_str)
    }
}

impl Shared {
    fn fail(&self, reason: String) {
        let _ = self.failure.set(reason);
        self.failed.cancel();
    }
}
