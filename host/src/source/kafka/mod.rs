//! Kafka topics read by a consumer group, one lane per assigned partition.
//!
//! Three parts cooperate:
//!
//! - **The poller**, an OS thread that polls the consumer's shared queue. Records never
//!   arrive there (each partition has a queue of its own); what it serves is librdkafka's
//!   group protocol: rebalance callbacks, which block while partitions are started or
//!   drained, which is why this is a thread and not a task.
//! - **The coordinator**, [`KafkaSource::run`], a task that owns the lanes. On assignment
//!   it splits each partition into its own queue and starts a lane for it; on revocation
//!   it stops those lanes, waits (up to `drain_timeout`) until everything they read is
//!   delivered, and commits, all before the rebalance callback returns, so that the next
//!   owner resumes exactly after the last delivered record.
//! - **The lanes**, [`PartitionLane`], one per partition, each run by the shared
//!   [`driver`](super::driver) like any other source: batching, backpressure and ordered
//!   acknowledgements. A lane stores its partition's offset only once a batch and all
//!   before it were accepted by every sink, and asks the [`Committer`] to commit it, which
//!   it does at once, one commit at a time; the coordinator also commits at every
//!   revocation and shutdown. A lane that is not read leaves its records in librdkafka's
//!   per-partition queue, whose size (`queued.max.messages.kbytes`) bounds the memory a
//!   slow pipeline can fill.
//!
//! A crash loses nothing: records after the last commit are read again (at-least-once):
//! those acknowledged during the last commit's round trip and those in flight.
//!
//! In an exactly-once pipeline the consumer commits nothing itself: lanes hand their
//! offsets to the [`exactly_once`](crate::kafka::exactly_once) link, the sink commits them
//! inside its transactions, and the coordinator asks for a commit before partitions are
//! released.

mod commit;
mod group;
mod lane;
mod poller;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::commit::{CommitRequests, Committer};
use self::group::GroupContext;
use self::lane::{LaneOffsets, PartitionLane};
use self::poller::Poller;
use super::driver::Lanes;
use crate::config::{KafkaSourceConfig, StartPosition};
use crate::kafka::exactly_once::SourceLink;

/// How long broker queries made during a rebalance (committed offsets, offsets for a start
/// time) may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the poller looks up from the shared queue to check whether it should stop.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

type Consumer_ = BaseConsumer<GroupContext>;

/// A topic partition.
type Partition = (Arc<str>, i32);

/// A subscribed consumer, not yet read.
pub struct KafkaSource {
    name: String,
    consumer: Arc<Consumer_>,
    rebalances: mpsc::UnboundedReceiver<Rebalance>,
    drain_timeout: Duration,
    /// Exactly-once pipelines only: where offsets go instead of the consumer's commits.
    transactions: Option<SourceLink>,
    /// At-least-once pipelines: the lanes' requests for a commit.
    commits: CommitRequests,
}

/// What the rebalance callback hands the coordinator. The callback waits until `done` is
/// dropped: until the new lanes are started, or the revoked ones drained and committed.
enum Rebalance {
    Assigned(Vec<Partition>, std::sync::mpsc::SyncSender<()>),
    Revoked(Vec<Partition>, std::sync::mpsc::SyncSender<()>),
}

impl KafkaSource {
    /// Creates the consumer and subscribes; nothing is fetched until [`KafkaSource::run`].
    /// With `transactions`, offsets are committed by the exactly-once sink.
    pub fn open(name: &str, config: &KafkaSourceConfig, transactions: Option<SourceLink>) -> anyhow::Result<Self> {
        let (rebalances_tx, rebalances) = mpsc::unbounded_channel();
        let context = GroupContext {
            source: name.to_owned(),
            start: config.start,
            coordinator: rebalances_tx,
            transactions: transactions.clone(),
        };
        let reset = match config.start {
            StartPosition::Latest => "latest",
            // A start time is looked up per partition on assignment; earliest is the
            // fallback when that lookup fails.
            StartPosition::Earliest | StartPosition::Timestamp(_) => "earliest",
        };
        let defaults = [
            ("group.id", config.group.clone()),
            ("auto.offset.reset", reset.to_owned()),
            ("enable.auto.offset.store", "false".to_owned()),
            ("enable.auto.commit", transactions.is_none().to_string()),
            // Upstream transactions' aborted records are never read.
            ("isolation.level", "read_committed".to_owned()),
            ("auto.commit.interval.ms", "1000".to_owned()),
            ("queued.max.messages.kbytes", "16384".to_owned()),
        ];
        let consumer: Consumer_ = crate::kafka::client_config(&config.brokers, &defaults, &config.properties)
            .create_with_context(context)
            .context("cannot create the Kafka consumer")?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).context("cannot subscribe")?;
        Ok(KafkaSource {
            name: name.to_owned(),
            consumer: Arc::new(consumer),
            rebalances,
            drain_timeout: config.drain_timeout,
            transactions,
            commits: CommitRequests::default(),
        })
    }

    /// Runs until `shutdown`, then drains every lane, commits, and leaves the group.
    pub async fn run(self, lanes: Lanes, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (poller, stray) = Poller::start(&self.name, self.consumer.clone())?;
        self.serve(poller, stray, lanes, shutdown).await
    }

    /// [`KafkaSource::run`] once the group protocol is served by `poller`.
    async fn serve(
        mut self,
        poller: Poller,
        stray: oneshot::Receiver<String>,
        lanes: Lanes,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let committer =
            self.transactions.is_none().then(|| Committer::start(&self.name, self.consumer.clone(), &self.commits));
        let mut running = Running::default();
        let outcome = async {
            let mut stray = std::pin::pin!(stray);
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return Ok(()),
                    Some(joined) = running.tasks.join_next(), if !running.tasks.is_empty() => {
                        running.finished(joined)?;
                    }
                    Ok(message) = &mut stray => anyhow::bail!("{message}"),
                    reason = transaction_failed(self.transactions.as_ref()) => anyhow::bail!("{reason}"),
                    Some(rebalance) = self.rebalances.recv() => match rebalance {
                        Rebalance::Assigned(partitions, done) => {
                            for partition in partitions {
                                self.start_lane(&mut running, &lanes, &shutdown, partition)?;
                            }
                            drop(done);
                        }
                        Rebalance::Revoked(partitions, done) => {
                            let abandoned = running.drain(&partitions, self.drain_timeout).await?;
                            if let (Some(link), false) = (&self.transactions, abandoned.is_empty()) {
                                let reason = format!("{} revoked partition(s) did not drain within drain_timeout ({:?}); their records may be in the open transaction, which therefore cannot be committed", abandoned.len(), self.drain_timeout);
                                link.fail(reason.clone());
                                anyhow::bail!(reason);
                            }
                            self.commit().await?;
                            drop(done);
                        }
                    },
                }
            }
        }
        .await;
        // Rebalances from here on (leaving the group) find nobody waiting and go ahead.
        self.rebalances.close();
        let outcome = match &self.transactions {
            // The open transaction is being aborted: what the lanes have in flight is
            // discarded with it, and read again after the restart.
            Some(link) if link.has_failed() => {
                running.abort_all().await;
                outcome
            }
            _ => {
                running.drain_all().await;
                outcome.and(self.commit().await)
            }
        };
        if let Some(committer) = committer {
            committer.stop().await;
        }
        // A rebalance handed over just as the shutdown won the race is still in the
        // channel, and the poller is blocked in its callback until it is dropped: joining
        // the poller first would wait forever. Every lane is drained and the offsets are
        // committed by now, so the callback may go ahead (revoked partitions are released,
        // assigned ones are left at their committed offsets).
        while self.rebalances.try_recv().is_ok() {}
        poller.stop();
        outcome.with_context(|| format!("source `{}`", self.name))
    }

    fn start_lane(
        &self,
        running: &mut Running,
        lanes: &Lanes,
        shutdown: &CancellationToken,
        partition: Partition,
    ) -> anyhow::Result<()> {
        let (topic, index) = partition.clone();
        let mut queue = self
            .consumer
            .split_partition_queue(&topic, index)
            .with_context(|| format!("no queue for assigned partition {topic}/{index}"))?;
        let wake = Arc::new(Notify::new());
        let waker = wake.clone();
        // Called by librdkafka when the queue goes from empty to not empty. A permit is
        // kept if the lane is not waiting yet, so no wake-up is lost.
        queue.set_nonempty_callback(move || waker.notify_one());
        let lane = PartitionLane {
            queue,
            wake,
            consumer: self.consumer.clone(),
            offsets: match &self.transactions {
                Some(link) => LaneOffsets::Transactional(link.clone()),
                None => LaneOffsets::Committed(self.commits.clone()),
            },
            topic,
            partition: index,
        };
        tracing::info!(source = %self.name, topic = %partition.0, partition = index, "partition assigned");
        let stop = shutdown.child_token();
        let task = lanes.spawn(lane, stop.clone());
        // The lane's own task, not the one awaiting it: aborting that would leave the
        // lane running, detached.
        let abort = task.abort_handle();
        let key = partition.clone();
        running.tasks.spawn(async move { (key, task.await) });
        running.lanes.insert(partition, (stop, abort));
        Ok(())
    }

    /// Commits the offsets the lanes stored, synchronously: called before partitions are
    /// released and before leaving the group. In exactly-once mode, commits the sink's
    /// transaction, which carries the offsets.
    async fn commit(&self) -> anyhow::Result<()> {
        if let Some(link) = &self.transactions {
            return link.commit_now().await.map_err(|reason| anyhow::anyhow!("the transaction failed: {reason}"));
        }
        commit::commit_stored(&self.name, &self.consumer).await;
        Ok(())
    }
}

/// Resolves when the exactly-once pipeline's transaction failed; never without one.
async fn transaction_failed(transactions: Option<&SourceLink>) -> String {
    match transactions {
        Some(link) => link.failed().await,
        None => std::future::pending().await,
    }
}

/// The lanes of the partitions this member owns.
#[derive(Default)]
struct Running {
    lanes: HashMap<Partition, (CancellationToken, tokio::task::AbortHandle)>,
    tasks: JoinSet<(Partition, Result<anyhow::Result<()>, tokio::task::JoinError>)>,
}

impl Running {
    /// A lane task ended: fine if it was stopped (drained or aborted), an error otherwise.
    fn finished(
        &mut self,
        joined: Result<(Partition, Result<anyhow::Result<()>, tokio::task::JoinError>), tokio::task::JoinError>,
    ) -> anyhow::Result<()> {
        let Ok(((topic, index), lane)) = joined else { return Ok(()) };
        self.lanes.remove(&(topic.clone(), index));
        match lane {
            Ok(result) => result.with_context(|| format!("partition {topic}/{index}")),
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(anyhow::anyhow!("partition {topic}/{index}: the lane panicked: {e}")),
        }
    }

    /// Stops the lanes of `partitions` and waits until what they read is delivered and
    /// their offsets stored; lanes still busy at the deadline are abandoned (their records
    /// will be read again by the next owner) and returned.
    async fn drain(&mut self, partitions: &[Partition], deadline: Duration) -> anyhow::Result<Vec<Partition>> {
        let mut waiting: Vec<Partition> = partitions.iter().filter(|p| self.lanes.contains_key(*p)).cloned().collect();
        for partition in &waiting {
            self.lanes[partition].0.cancel();
        }
        let timer = tokio::time::sleep(deadline);
        tokio::pin!(timer);
        let mut abandoned = Vec::new();
        while !waiting.is_empty() {
            tokio::select! {
                Some(joined) = self.tasks.join_next() => {
                    if let Ok((partition, _)) = &joined {
                        waiting.retain(|p| p != partition);
                    }
                    self.finished(joined)?;
                }
                () = &mut timer => {
                    for partition in waiting.drain(..) {
                        tracing::warn!(topic = %partition.0, partition = partition.1, ?deadline, "a revoked partition did not drain in time; its unacknowledged records will be read again by its next owner");
                        if let Some((_, abort)) = self.lanes.remove(&partition) {
                            abort.abort();
                        }
                        abandoned.push(partition);
                    }
                }
            }
        }
        Ok(abandoned)
    }

    /// Stops every lane at once, without waiting for what it has in flight.
    async fn abort_all(&mut self) {
        for (_, abort) in self.lanes.values() {
            abort.abort();
        }
        while let Some(joined) = self.tasks.join_next().await {
            let _ = self.finished(joined);
        }
    }

    /// Stops every lane and waits until each has drained (shutdown has its own deadline).
    async fn drain_all(&mut self) {
        for (stop, _) in self.lanes.values() {
            stop.cancel();
        }
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(error) = self.finished(joined) {
                tracing::error!(error = format!("{error:#}"), "a partition failed while draining");
            }
        }
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<Partition> {
    list.elements().iter().map(|e| (Arc::from(e.topic()), e.partition())).collect()
}

#[cfg(test)]
mod tests;
