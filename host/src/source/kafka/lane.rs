//! One assigned partition, read from its own queue by the shared source driver.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::prelude::{BASE64_STANDARD, Engine};
use bytes::Bytes;
use rdkafka::consumer::Consumer;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::Notify;

use super::Consumer_;
use super::commit::CommitRequests;
use super::group::GroupContext;
use crate::ack::Checkpoint;
use crate::kafka::exactly_once::SourceLink;
use crate::kafka::headers::RawHeaders;
use crate::record::{Record, RecordMeta};
use crate::source::{Incoming, Malformed, Source};

/// How long an idle lane waits for librdkafka's wake-up before it looks at its queue
/// anyway: the most a missed wake-up delays a record.
const RECHECK: Duration = Duration::from_millis(200);

/// Where a lane's delivered offsets go.
pub(super) enum LaneOffsets {
    /// Stored for the consumer to commit, and a commit requested at once.
    Committed(CommitRequests),
    /// Registered with the exactly-once link, for the next transaction.
    Transactional(SourceLink),
}

/// One assigned partition, read from its own queue.
pub(super) struct PartitionLane {
    pub(super) queue: PartitionQueue<GroupContext>,
    pub(super) wake: Arc<Notify>,
    pub(super) consumer: Arc<Consumer_>,
    pub(super) offsets: LaneOffsets,
    pub(super) topic: Arc<str>,
    pub(super) partition: i32,
}

impl PartitionLane {
    fn incoming(&self, message: &BorrowedMessage<'_>) -> Incoming {
        let timestamp = message.timestamp().to_millis();
        let headers = RawHeaders::of(message);
        let record = match &headers {
            Ok(headers) => text_names(headers).and_then(|()| {
                let text = headers
                    .iter()
                    .map(|h| (str::from_utf8(h.name).expect("checked above"), h.value.unwrap_or_default()));
                Record::with_headers(message.key(), message.payload(), text)
            }),
            Err(reason) => Err(reason.clone()),
        };
        let record = record
            .map(|mut record| {
                record.timestamp = timestamp;
                record
            })
            .map_err(|reason| {
                // The dead letter keeps what can be carried: the key, the value, and the
                // headers whose names are text.
                let text = headers
                    .iter()
                    .flat_map(RawHeaders::iter)
                    .filter_map(|h| Some((str::from_utf8(h.name).ok()?, h.value.unwrap_or_default())));
                let mut kept = Record::with_headers(message.key(), message.payload(), text)
                    .or_else(|_| Record::with_headers(message.key(), message.payload(), std::iter::empty()))
                    .unwrap_or_else(|_| {
                        Record::from_value(Bytes::copy_from_slice(message.payload().unwrap_or_default()))
                    });
                kept.timestamp = timestamp;
                Malformed { kept, reason }
            });
        let offset = message.offset() as u64;
        let meta = RecordMeta { stream: self.topic.clone(), partition: self.partition as u32, offset };
        Incoming { record, meta, checkpoint: offset + 1 }
    }
}

/// Header names cross the plugin boundary as text: why this record's cannot, if they
/// cannot, with every name that is not UTF-8 in base64.
fn text_names(headers: &RawHeaders<'_>) -> Result<(), String> {
    let bad: Vec<String> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| str::from_utf8(h.name).is_err())
        .map(|(index, h)| format!("header {index} (base64 `{}`)", BASE64_STANDARD.encode(h.name)))
        .collect();
    match bad.is_empty() {
        true => Ok(()),
        false => Err(format!("header names must be UTF-8 and these are not: {}", bad.join(", "))),
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
                // librdkafka wakes a queue's reader only when the queue goes from empty to
                // not empty, and that edge can be missed (rust-rdkafka #665 and #840: one
                // partition stops for good while the others flow; seen once here, on a
                // loaded machine): look again after a while even without a wake-up.
                None => {
                    let _ = tokio::time::timeout(RECHECK, self.wake.notified()).await;
                }
            }
        }
    }

    /// Stores the offset after the last delivered record, for the next commit (or, in
    /// exactly-once mode, for the next transaction).
    async fn commit(&mut self, checkpoint: Checkpoint) -> anyhow::Result<()> {
        let commits = match &self.offsets {
            LaneOffsets::Transactional(link) => {
                // The membership as it is now, not as of the last assignment: with KIP-848's
                // protocol the member epoch moves on without one, and the broker refuses
                // offsets sent with a stale epoch (the Java client asks at each commit too).
                if let Some(group) = self.consumer.group_metadata() {
                    link.set_group(group);
                }
                link.register(&self.topic, self.partition, checkpoint as i64);
                return Ok(());
            }
            LaneOffsets::Committed(commits) => commits,
        };
        let mut offsets = TopicPartitionList::with_capacity(1);
        offsets.add_partition_offset(&self.topic, self.partition, Offset::Offset(checkpoint as i64))?;
        self.consumer
            .store_offsets(&offsets)
            .with_context(|| format!("cannot store offset {checkpoint} of {}/{}", self.topic, self.partition))?;
        commits.request();
        Ok(())
    }
}
