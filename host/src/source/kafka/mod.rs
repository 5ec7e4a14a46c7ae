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
//!   before it were accepted by every sink; the consumer commits stored offsets every
//!   second and at every revocation and shutdown. A lane that is not read leaves its
//!   records in librdkafka's per-partition queue, whose size
//!   (`queued.max.messages.kbytes`) bounds the memory a slow pipeline can fill.
//!
//! A crash loses nothing: records after the last commit are read again (at-least-once),
//! at most about a second of them.
//!
//! In an exactly-once pipeline the consumer commits nothing itself: lanes hand their
//! offsets to the [`exactly_once`](crate::kafka::exactly_once) link, the sink commits them
//! inside its transactions, and the coordinator asks for a commit before partitions are
//! released.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::driver::Lanes;
use super::{Incoming, Malformed, Source};
use crate::ack::Checkpoint;
use crate::config::{KafkaSourceConfig, StartPosition};
use crate::kafka::exactly_once::SourceLink;
use crate::record::{Record, RecordMeta};

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
        })
    }

    /// Runs until `shutdown`, then drains every lane, commits, and leaves the group.
    pub async fn run(mut self, lanes: Lanes, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (poller, stray) = Poller::start(&self.name, self.consumer.clone())?;
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
            transactions: self.transactions.clone(),
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
        let consumer = self.consumer.clone();
        let result = tokio::task::spawn_blocking(move || consumer.commit_consumer_state(CommitMode::Sync)).await;
        match result.expect("commit task panicked") {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            // The offsets stay stored; the next periodic commit tries again, and at worst a
            // new owner reads the uncommitted records again.
            Err(error) => tracing::warn!(source = %self.name, %error, "committing offsets failed"),
        }
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

/// The thread that serves the consumer's shared queue: rebalances, errors, logs.
struct Poller {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Poller {
    /// Starts polling. The receiver fires if a record shows up in the shared queue, which
    /// would mean its partition's order can no longer be guaranteed.
    fn start(name: &str, consumer: Arc<Consumer_>) -> anyhow::Result<(Self, oneshot::Receiver<String>)> {
        let stop = Arc::new(AtomicBool::new(false));
        let (stray_tx, stray) = oneshot::channel();
        let stopped = stop.clone();
        let name = name.to_owned();
        let thread = std::thread::Builder::new().name(format!("kafka-{name}")).spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match consumer.poll(POLL_INTERVAL) {
                    None => {}
                    Some(Err(error)) => tracing::warn!(source = %name, %error, "kafka consumer error"),
                    Some(Ok(message)) => {
                        let _ = stray_tx.send(format!(
                            "a record of {}/{} (offset {}) arrived before its partition had a lane; stopping so that it is read again in order",
                            message.topic(),
                            message.partition(),
                            message.offset()
                        ));
                        return;
                    }
                }
            }
        })?;
        Ok((Poller { stop, thread }, stray))
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        // Blocks for at most one poll interval.
        let _ = self.thread.join();
    }
}

/// The consumer's callbacks: rebalances go to the coordinator, logs to ours.
struct GroupContext {
    source: String,
    start: StartPosition,
    coordinator: mpsc::UnboundedSender<Rebalance>,
    transactions: Option<SourceLink>,
}

impl GroupContext {
    /// Hands a rebalance to the coordinator and waits until it is done with it. Returns at
    /// once when the coordinator is gone (the source is stopping).
    fn hand_over(&self, make: impl FnOnce(std::sync::mpsc::SyncSender<()>) -> Rebalance) {
        let (done_tx, done) = std::sync::mpsc::sync_channel(0);
        if self.coordinator.send(make(done_tx)).is_ok() {
            // Disconnected (not a message) is the signal: the coordinator dropped `done`.
            let _ = done.recv();
        }
    }

    /// For a start time: partitions without a committed offset start at the first record
    /// at or after it.
    fn start_at_time(&self, consumer: &Consumer_, assignment: &mut TopicPartitionList, millis: i64) -> KafkaResult<()> {
        let committed = consumer.committed_offsets(assignment.clone(), QUERY_TIMEOUT)?;
        let mut lookup = TopicPartitionList::new();
        for element in committed.elements() {
            if element.offset() == Offset::Invalid {
                lookup.add_partition_offset(element.topic(), element.partition(), Offset::Offset(millis))?;
            }
        }
        if lookup.count() == 0 {
            return Ok(());
        }
        for element in consumer.offsets_for_times(lookup, QUERY_TIMEOUT)?.elements() {
            // The broker answers "the end" for a partition with no record since then: every
            // record it holds is older than the start time.
            if let offset @ (Offset::Offset(_) | Offset::End) = element.offset() {
                assignment.set_partition_offset(element.topic(), element.partition(), offset)?;
            }
        }
        Ok(())
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<Partition> {
    list.elements().iter().map(|e| (Arc::from(e.topic()), e.partition())).collect()
}

impl ClientContext for GroupContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        crate::kafka::log(&self.source, level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        crate::kafka::error(&self.source, error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(&self, consumer: &Consumer_, err: RDKafkaRespErr, assignment: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let StartPosition::Timestamp(millis) = self.start
                    && let Err(error) = self.start_at_time(consumer, assignment, millis)
                {
                    tracing::warn!(source = %self.source, %error, "cannot look up offsets for the start time; starting from the earliest");
                }
                let assigned =
                    if cooperative { consumer.incremental_assign(assignment) } else { consumer.assign(assignment) };
                if let Err(error) = assigned {
                    tracing::error!(source = %self.source, %error, "cannot take the assigned partitions");
                    return;
                }
                // Offsets sent in transactions carry the generation that owns them.
                if let (Some(link), Some(group)) = (&self.transactions, consumer.group_metadata()) {
                    link.set_group(group);
                }
                // Fetching is held until every partition has a queue of its own, so no
                // record of theirs lands in the shared queue in between.
                let _ = consumer.pause(assignment);
                self.hand_over(|done| Rebalance::Assigned(partitions(assignment), done));
                let _ = consumer.resume(assignment);
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(source = %self.source, partitions = assignment.count(), "partitions revoked; draining them");
                self.hand_over(|done| Rebalance::Revoked(partitions(assignment), done));
                let released =
                    if cooperative { consumer.incremental_unassign(assignment) } else { consumer.unassign() };
                if let Err(error) = released {
                    tracing::error!(source = %self.source, %error, "cannot release the revoked partitions");
                }
            }
            other => {
                tracing::error!(source = %self.source, error = ?other, "rebalance failed; releasing every partition");
                self.hand_over(|done| Rebalance::Revoked(partitions(assignment), done));
                let _ = consumer.unassign();
            }
        }
    }
}

/// One assigned partition, read from its own queue.
struct PartitionLane {
    queue: PartitionQueue<GroupContext>,
    wake: Arc<Notify>,
    consumer: Arc<Consumer_>,
    transactions: Option<SourceLink>,
    topic: Arc<str>,
    partition: i32,
}

impl PartitionLane {
    fn incoming(&self, message: &BorrowedMessage<'_>) -> Incoming {
        let headers = message.headers();
        let headers = (0..headers.map_or(0, |h| h.count())).map(move |index| {
            let header = headers.expect("counted above").get(index);
            (header.key, header.value.unwrap_or_default())
        });
        let record = Record::with_headers(message.key(), message.payload(), headers).map(|mut record| {
            record.timestamp = message.timestamp().to_millis();
            record
        });
        let record = record.map_err(|reason| {
            let without_headers = Record::with_headers(message.key(), message.payload(), std::iter::empty());
            let mut kept = without_headers
                .unwrap_or_else(|_| Record::from_value(Bytes::copy_from_slice(message.payload().unwrap_or_default())));
            kept.timestamp = message.timestamp().to_millis();
            Malformed { kept, reason }
        });
        let offset = message.offset() as u64;
        let meta = RecordMeta { stream: self.topic.clone(), partition: self.partition as u32, offset };
        Incoming { record, meta, checkpoint: offset + 1 }
    }
}

impl Source for PartitionLane {
    async fn next(&mut self) -> anyhow::Result<Option<Incoming>> {
        loop {
            // Cancel-safe: a record is returned in the same poll that took it off the queue.
            match self.queue.poll(Duration::ZERO) {
                Some(Ok(message)) => return Ok(Some(self.incoming(&message))),
                Some(Err(error)) => {
                    tracing::warn!(topic = %self.topic, partition = self.partition, %error, "kafka fetch error")
                }
                None => self.wake.notified().await,
            }
        }
    }

    /// Stores the offset after the last delivered record, for the next commit (or, in
    /// exactly-once mode, for the next transaction).
    async fn commit(&mut self, checkpoint: Checkpoint) -> anyhow::Result<()> {
        if let Some(link) = &self.transactions {
            link.register(&self.topic, self.partition, checkpoint as i64);
            return Ok(());
        }
        let mut offsets = TopicPartitionList::with_capacity(1);
        offsets.add_partition_offset(&self.topic, self.partition, Offset::Offset(checkpoint as i64))?;
        self.consumer
            .store_offsets(&offsets)
            .with_context(|| format!("cannot store offset {checkpoint} of {}/{}", self.topic, self.partition))
    }
}
