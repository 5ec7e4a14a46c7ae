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
    limits: HashMap<String, Option<usize>>,
}

impl TopicLimits {
    pub fn new(admin: AdminClient<ProducerLog>) -> Self {
        TopicLimits { admin, limits: HashMap::new() }
    }

    /// `Err` with the reason if `topic` will never take `record`.
    pub async fn check(&mut self, topic: &str, record: &Record) -> Result<(), String> {
        let limit = match self.limits.get(topic) {
            Some(limit) => *limit,
            None => {
                let limit = self.describe(topic).await;
                self.limits.insert(topic.to_owned(), limit);
                limit
            }
        };
        let size = batch_size(record);
        match limit {
            Some(limit) if size > limit => Err(format!(
                "the record takes {size} bytes in a batch of its own, more than the {limit} that topic `{topic}` \
                 takes (its max.message.bytes)"
            )),
            _ => Ok(()),
        }
    }

    async fn describe(&self, topic: &str) -> Option<usize> {
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

fn unknown(topic: &str, why: &str) -> Option<usize> {
    tracing::warn!(topic, why, "cannot learn the topic's max.message.bytes; its records are not checked against it");
    None
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
