//! What a failed produce means, and so what the sink does about it.
//!
//! librdkafka retries what it knows to be transient on its own, until the delivery
//! timeout, and then reports an error per record. That error says one of three things,
//! and confusing them is costly either way: dead-lettering after an error of the whole
//! producer sends every record to the dead-letter sink, acknowledged, while nothing is
//! wrong with any of them; retrying an error the broker will repeat forever stalls the
//! partition, and every pipeline behind the sink, for good.
//!
//! - [`Verdict::Refuse`]: the broker will never take *this record* (too large, a timestamp
//!   out of the topic's range, topic gone, not authorized for the topic). It goes to the
//!   dead-letter sink with the broker's error.
//! - [`Verdict::Retry`]: nothing is wrong with the record; it may get through later (the
//!   broker is down, a leader is moving), or nothing can get through now (the producer
//!   was fenced or hit a fatal error, authentication failed, the cluster refuses this
//!   client). The flush fails, nothing is acknowledged, and the driver writes the records
//!   again with backoff; an at-least-once sink first replaces a producer that hit a fatal
//!   error (see [`super::KafkaSink::write`]), an exactly-once one aborts and stops.
//! - [`Verdict::Unknown`]: an error not on either list. The default is the cautious one:
//!   the record is sent again on its own a few times ([`super::again`]), and refused only
//!   if the broker keeps saying the same, with a dead letter that says so. That bounds
//!   the stall an error this list does not know can cause, without dead-lettering a record
//!   for an error that passes.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Refuse,
    Retry,
    Unknown,
}

/// The verdict on a record that failed with `error`.
pub fn of(error: &KafkaError) -> Verdict {
    use RDKafkaErrorCode::*;
    let Some(code) = error.rdkafka_error_code() else {
        // Not a librdkafka error code (a canceled future, say): nothing wrong with the record.
        return Verdict::Retry;
    };
    match code {
        // The record itself: what the broker or librdkafka will refuse however often it is sent.
        MessageSizeTooLarge
        | InvalidMessageSize
        | MessageBatchTooLarge
        | InvalidRecord
        | InvalidTimestamp
        | UnknownTopic
        | UnknownTopicOrPartition
        | InvalidTopic
        | TopicAuthorizationFailed
        | PolicyViolation
        | UnsupportedForMessageFormat
        | UnsupportedCompressionType
        | InvalidPartitions
        | BadMessage
        | KeySerialization
        | ValueSerialization
        | UnknownTopicId => Verdict::Refuse,
        // The way there, for a while: librdkafka's own retries ran out. (A partition
        // librdkafka does not know yet is the metadata catching up; a topic that is gone
        // turns into the broker's "unknown topic", which is refused.)
        UnknownPartition
        | MessageTimedOut
        | OperationTimedOut
        | TimedOutQueue
        | RequestTimedOut
        | BrokerTransportFailure
        | AllBrokersDown
        | Resolve
        | QueueFull
        | PurgeQueue
        | PurgeInflight
        | NetworkException
        | LeaderNotAvailable
        | NotLeaderForPartition
        | BrokerNotAvailable
        | ReplicaNotAvailable
        | NotEnoughReplicas
        | NotEnoughReplicasAfterAppend
        | KafkaStorageError
        | FencedLeaderEpoch
        | UnknownLeaderEpoch
        | ThrottlingQuotaExceeded
        | ConcurrentTransactions
        | CoordinatorLoadInProgress
        | CoordinatorNotAvailable
        | NotCoordinator
        | Retry
        | ISRInsufficient
        | InProgress
        | PreviousInProgress
        | Interrupted
        | WaitCache
        | UnknownBroker
        | DestroyBroker
        | BrokerDestroy
        | RebootstrapRequired
        | ReassignmentInProgress
        | PreferredLeaderNotAvailable
        | EligibleLeadersNotAvailable
        | UnknownProducerId
        | OutOfOrderSequenceNumber => Verdict::Retry,
        // The producer, not the record: nothing it sends can get through until it is
        // replaced (fatal, fenced) or the cluster's settings change (authorization).
        Fatal
        | Fenced
        | State
        | ProducerFenced
        | InvalidProducerEpoch
        | InvalidTransactionalState
        | InvalidProducerIdMapping
        | InvalidTransactionTimeout
        | TransactionCoordinatorFenced
        | TransactionalIdAuthorizationFailed
        | ClusterAuthorizationFailed
        | Authentication
        | SaslAuthenticationFailed
        | UnsupportedSASLMechanism
        | IllegalSASLState
        | SSL
        | InvalidRequiredAcks
        | UnsupportedVersion
        | UnsupportedFeature
        | NotImplemented
        | InvalidArgument
        | Inconsistent
        | GaplessGuarantee
        | CriticalSystemResource
        | UnacceptableCredential
        | SecurityDisabled => Verdict::Retry,
        _ => Verdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::error::RDKafkaErrorCode as Code;

    use super::*;

    fn delivery(code: Code) -> KafkaError {
        KafkaError::MessageProduction(code)
    }

    #[test]
    fn records_are_refused_only_for_what_is_wrong_with_them() {
        for code in
            [Code::MessageSizeTooLarge, Code::InvalidTimestamp, Code::UnknownTopicOrPartition, Code::InvalidRecord]
        {
            assert_eq!(of(&delivery(code)), Verdict::Refuse, "{code:?}");
        }
        // A producer's fatal error, a fencing or a cluster that refuses this client says
        // nothing about the record: dead-lettering would divert every record.
        for code in [Code::Fatal, Code::Fenced, Code::State, Code::ProducerFenced, Code::ClusterAuthorizationFailed] {
            assert_eq!(of(&delivery(code)), Verdict::Retry, "{code:?}");
        }
        for code in [Code::MessageTimedOut, Code::NotEnoughReplicas, Code::AllBrokersDown, Code::PurgeInflight] {
            assert_eq!(of(&delivery(code)), Verdict::Retry, "{code:?}");
        }
        for code in [Code::Unknown, Code::InvalidConfig, Code::InvalidRequest, Code::StaleControllerEpoch] {
            assert_eq!(of(&delivery(code)), Verdict::Unknown, "{code:?}");
        }
    }
}
