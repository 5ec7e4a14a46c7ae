//! One assigned partition, read from its own queue by the shared source driver.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use rdkafka::consumer::Consumer;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::Notify;

use super::Consumer_;
use super::commit::CommitRequests;
use super::group::GroupContext;
use crate::ack::Checkpoint;
use crate::kafka::exactly_once::SourceLink;
use crate::record::{Record, RecordMeta};
use crate::source::{Incoming, Malformed, Source};

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
        let commits = match &self.offsets {
            LaneOffsets::Transactional(link) => {
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
