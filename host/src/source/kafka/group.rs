//! The consumer's group callbacks: each rebalance is handed to the coordinator, which
//! starts or drains lanes while the callback waits.

use rdkafka::consumer::{Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::{Consumer_, QUERY_TIMEOUT, Rebalance, partitions};
use crate::config::StartPosition;
use crate::kafka::exactly_once::SourceLink;

/// The consumer's callbacks: rebalances go to the coordinator, logs to ours.
pub(super) struct GroupContext {
    pub(super) source: String,
    pub(super) start: StartPosition,
    pub(super) coordinator: mpsc::UnboundedSender<Rebalance>,
    pub(super) transactions: Option<SourceLink>,
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
