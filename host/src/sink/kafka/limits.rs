//! The largest record a topic takes, checked before producing in a transaction.
//!
//! Inside a transaction, a record the broker refuses aborts the whole transaction, and
//! the pipeline restarts from its last commit straight into the same record: it would
//! never get past it. So an exactly-once sink asks the broker once per topic for its
//! `max.message.bytes` and refuses a record that would not fit in a batch on its own,
//! which then goes to the dead-letter sink like any record a sink refuses. The size is
//! counted before compression, as for the producer's own `message.max.bytes`: a record
//! that would only fit compressed is refused too (raise the topic's limit for such
//! records). An at-least-once sink needs no such check: it lets the broker decide, with
//! compression counted (see [`super::alone`]).
//!
//! The broker holds the limit against whole batches, and a refused batch aborts the
//! transaction just the same: a sink with one topic caps its batches (`batch.size`) at
//! the topic's limit, and a sink that writes to the topics its routes name warns of a
//! topic whose limit is under its `batch_bytes`.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};

use super::ProducerLog;
use crate::record::Record;

/// How long to wait for the broker to describe a topic.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Each topic's `max.message.bytes`, asked of the broker the first time a record goes
/// there. `None` when the broker would not say (not allowed to describe configs, say):
/// such a topic's records are not checked.
pub struct TopicLimits {
    admin: AdminClient<ProducerLog>,
    /// The most bytes the producer puts in a batch.
    batch_bytes: u64,
    limits: HashMap<String, Option<u64>>,
}

impl TopicLimits {
    /// For a producer whose batches take up to `batch_bytes`, capped at the limit of
    /// `topic` when it writes to that topic only.
    pub async fn new(admin: AdminClient<ProducerLog>, batch_bytes: u64, topic: Option<&str>) -> Self {
        let mut limits = TopicLimits { admin, batch_bytes, limits: HashMap::new() };
        if let Some(topic) = topic {
            let limit = limits.describe(topic).await;
            limits.limits.insert(topic.to_owned(), limit);
            if let Some(limit) = limit.filter(|&limit| limit < batch_bytes) {
                tracing::info!(
                    topic,
                    batch_bytes,
                    max_message_bytes = limit,
                    "batches capped at the topic's max.message.bytes: the broker would refuse a larger batch whole, \
                     and that would abort the transaction"
                );
                limits.batch_bytes = limit;
            }
        }
        limits
    }

    /// The most bytes to put in a batch.
    pub fn batch_bytes(&self) -> u64 {
        self.batch_bytes
    }

    /// What `topic` takes, asked of the broker the first time. Once per write, not per
    /// record: every record of a write goes to one topic.
    pub async fn limit(&mut self, topic: &str) -> TopicLimit {
        if let Some(&limit) = self.limits.get(topic) {
            return TopicLimit(limit);
        }
        let limit = self.describe(topic).await;
        if let Some(limit) = limit.filter(|&limit| limit < self.batch_bytes) {
            tracing::warn!(
                topic,
                batch_bytes = self.batch_bytes,
                max_message_bytes = limit,
                "the sink's batch_bytes is over the topic's max.message.bytes: a batch the broker refuses \
                 aborts the transaction; set batch_bytes to at most the topic's limit"
            );
        }
        self.limits.insert(topic.to_owned(), limit);
        TopicLimit(limit)
    }

    async fn describe(&self, topic: &str) -> Option<u64> {
        let options = AdminOptions::new().request_timeout(Some(DESCRIBE_TIMEOUT));
        let described = self.admin.describe_configs([&ResourceSpecifier::Topic(topic)], &options).await;
        let limit = match described.as_deref() {
            Ok([Ok(resource)]) => resource.get("max.message.bytes").and_then(|e| e.value.as_deref()?.parse().ok()),
            Ok([Err(code)]) => return unknown(topic, &code.to_string()),
            Ok(_) => None,
            Err(error) => return unknown(topic, &error.to_string()),
        };
        limit.or_else(|| unknown(topic, "the broker gave no max.message.bytes"))
    }
}

fn unknown(topic: &str, why: &str) -> Option<u64> {
    tracing::warn!(topic, why, "cannot learn the topic's max.message.bytes; its records are not checked against it");
    None
}

/// One topic's `max.message.bytes`, if the broker said.
#[derive(Clone, Copy)]
pub struct TopicLimit(Option<u64>);

impl TopicLimit {
    /// `Err` with the reason if the topic will never take `record`.
    pub fn check(self, record: &Record, topic: &str) -> Result<(), String> {
        let size = batch_size(record) as u64;
        match self.0 {
            Some(limit) if size > limit => Err(format!(
                "the record takes {size} bytes in a batch of its own, more than the {limit} that topic `{topic}` \
                 takes (its max.message.bytes)"
            )),
            _ => Ok(()),
        }
    }
}

/// The size of a record batch holding only `record`, uncompressed, as the broker
/// measures it against `max.message.bytes`: the batch's header (61 bytes, its offset
/// and length included) and the record in Kafka's v2 format, where lengths are zigzag
/// varints and a batch's only record has a timestamp and offset delta of zero.
pub fn batch_size(record: &Record) -> usize {
    const BATCH_HEADER: usize = 61;
    let field = |bytes: Option<&[u8]>| bytes.map_or(varint(-1), |b| varint(b.len() as i64) + b.len());
    // Attributes, timestamp delta and offset delta: one byte each.
    let mut body = 3 + field(record.key()) + field(record.value()) + varint(record.header_count() as i64);
    for (name, value) in record.headers() {
        body += field(Some(name.as_bytes())) + field(Some(value));
    }
    BATCH_HEADER + varint(body as i64) + body
}

/// The bytes of `n` as a zigzag varint.
fn varint(n: i64) -> usize {
    let zigzag = ((n << 1) ^ (n >> 63)) as u64;
    (64 - zigzag.max(1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_take_a_byte_per_seven_bits_of_their_zigzag() {
        for (n, bytes) in [(0, 1), (-1, 1), (63, 1), (64, 2), (-64, 1), (-65, 2), (8191, 2), (8192, 3)] {
            assert_eq!(varint(n), bytes, "{n}");
        }
    }

    /// Sizes as Kafka's own `DefaultRecordBatch` writes them.
    #[test]
    fn a_batch_of_one_record_is_its_header_and_the_record() {
        // Length 8, attributes, deltas, key length 1 and "k", value length 1 and "v",
        // no headers: a 9-byte record.
        assert_eq!(batch_size(&Record::new(Some(b"k"), Some(b"v"))), 61 + 9);
        // No key or value: lengths of -1.
        assert_eq!(batch_size(&Record::new(None, None)), 61 + 7);
        // A 100-byte value needs a two-byte length, and the record's own length too.
        let value = [b'x'; 100];
        let mut record = Record::new(None, Some(&value));
        assert_eq!(batch_size(&record), 61 + 2 + 3 + 1 + 2 + 100 + 1);
        record.push_header("seq", "7");
        assert_eq!(batch_size(&record), 61 + 2 + 3 + 1 + 2 + 100 + 1 + 1 + 3 + 1 + 1);
    }
}
