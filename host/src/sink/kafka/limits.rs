//! What a topic takes, checked before producing in a transaction: the largest record and
//! the range of timestamps.
//!
//! Inside a transaction, a record the broker refuses aborts the whole transaction, and
//! the pipeline restarts from its last commit straight into the same record: it would
//! never get past it. So an exactly-once sink asks the broker once per topic for its
//! `max.message.bytes` and timestamp settings, and refuses a record that would not fit in
//! a batch on its own, or whose create time is further from this host's clock than the
//! topic's `message.timestamp.before.max.ms` / `after.max.ms` allow (a plugin that sets
//! a timestamp a day ahead, say), which then goes to the dead-letter sink like any record
//! a sink refuses. The clocks of the host and the broker differ a little: a record within
//! that difference of a bound may still be refused by the broker, and the replay checks
//! it again against a clock that has moved on. The size is
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

/// What each topic takes, asked of the broker the first time a record goes there. What
/// the broker would not say (not allowed to describe configs, say) is not checked.
pub struct TopicLimits {
    admin: AdminClient<ProducerLog>,
    /// The most bytes the producer puts in a batch.
    batch_bytes: u64,
    limits: HashMap<String, TopicLimit>,
}

impl TopicLimits {
    /// For a producer whose batches take up to `batch_bytes`, capped at the limit of
    /// `topic` when it writes to that topic only.
    pub async fn new(admin: AdminClient<ProducerLog>, batch_bytes: u64, topic: Option<&str>) -> Self {
        let mut limits = TopicLimits { admin, batch_bytes, limits: HashMap::new() };
        if let Some(topic) = topic {
            let limit = limits.describe(topic).await;
            limits.limits.insert(topic.to_owned(), limit);
            if let Some(limit) = limit.max_bytes.filter(|&limit| limit < batch_bytes) {
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
            return limit;
        }
        let limit = self.describe(topic).await;
        if let Some(limit) = limit.max_bytes.filter(|&limit| limit < self.batch_bytes) {
            tracing::warn!(
                topic,
                batch_bytes = self.batch_bytes,
                max_message_bytes = limit,
                "the sink's batch_bytes is over the topic's max.message.bytes: a batch the broker refuses \
                 aborts the transaction; set batch_bytes to at most the topic's limit"
            );
        }
        self.limits.insert(topic.to_owned(), limit);
        limit
    }

    async fn describe(&self, topic: &str) -> TopicLimit {
        let options = AdminOptions::new().request_timeout(Some(DESCRIBE_TIMEOUT));
        let described = self.admin.describe_configs([&ResourceSpecifier::Topic(topic)], &options).await;
        let resource = match described.as_deref() {
            Ok([Ok(resource)]) => resource,
            Ok([Err(code)]) => return unknown(topic, &code.to_string()),
            Ok(_) => return unknown(topic, "the broker described no such topic"),
            Err(error) => return unknown(topic, &error.to_string()),
        };
        let number = |name: &str| resource.get(name).and_then(|e| e.value.as_deref()?.parse::<u64>().ok());
        let limit = TopicLimit {
            max_bytes: number("max.message.bytes"),
            // Only a topic that keeps the producer's create time checks it.
            ahead_ms: None,
            behind_ms: None,
        };
        let limit = match resource.get("message.timestamp.type").and_then(|e| e.value.as_deref()) {
            Some("CreateTime") => TopicLimit {
                ahead_ms: number("message.timestamp.after.max.ms"),
                behind_ms: number("message.timestamp.before.max.ms"),
                ..limit
            },
            _ => limit,
        };
        if limit.max_bytes.is_none() {
            tracing::warn!(
                topic,
                "the broker gave no max.message.bytes; the topic's records are not checked against it"
            );
        }
        limit
    }
}

fn unknown(topic: &str, why: &str) -> TopicLimit {
    tracing::warn!(topic, why, "cannot learn the topic's limits; its records are not checked against them");
    TopicLimit::default()
}

/// What one topic takes, as far as the broker said.
#[derive(Clone, Copy, Default)]
pub struct TopicLimit {
    /// `max.message.bytes`.
    max_bytes: Option<u64>,
    /// `message.timestamp.after.max.ms`: how far ahead of the broker's clock a create
    /// time may be.
    ahead_ms: Option<u64>,
    /// `message.timestamp.before.max.ms`: how far behind it.
    behind_ms: Option<u64>,
}

impl TopicLimit {
    /// `Err` with the reason if the topic will never take `record`.
    pub fn check(self, record: &Record, topic: &str) -> Result<(), String> {
        let size = batch_size(record) as u64;
        if let Some(limit) = self.max_bytes.filter(|&limit| size > limit) {
            return Err(format!(
                "the record takes {size} bytes in a batch of its own, more than the {limit} that topic `{topic}` \
                 takes (its max.message.bytes)"
            ));
        }
        let Some(timestamp) = record.timestamp else {
            // The producer stamps it with the time it is sent.
            return Ok(());
        };
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let ahead = timestamp.saturating_sub(now);
        match (self.ahead_ms, self.behind_ms) {
            (Some(most), _) if ahead > 0 && ahead as u64 > most => Err(format!(
                "the record's timestamp {timestamp} is {ahead} ms ahead of this host's clock, more than the {most} \
                 that topic `{topic}` takes (its message.timestamp.after.max.ms)"
            )),
            (_, Some(most)) if ahead < 0 && ahead.unsigned_abs() > most => Err(format!(
                "the record's timestamp {timestamp} is {} ms behind this host's clock, more than the {most} \
                 that topic `{topic}` takes (its message.timestamp.before.max.ms)",
                ahead.unsigned_abs()
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

    #[test]
    fn a_create_time_out_of_the_topics_range_is_refused() {
        let limit = TopicLimit { max_bytes: None, ahead_ms: Some(3_600_000), behind_ms: Some(86_400_000) };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let at = |limit: TopicLimit, timestamp: Option<i64>| {
            let mut record = Record::from_value("v");
            record.timestamp = timestamp;
            limit.check(&record, "t")
        };
        assert_eq!(at(limit, None), Ok(()), "stamped when sent");
        assert_eq!(at(limit, Some(now)), Ok(()));
        assert_eq!(at(limit, Some(now + 3_000_000)), Ok(()));
        assert_eq!(at(limit, Some(now - 80_000_000)), Ok(()));
        let ahead = at(limit, Some(now + 86_400_000)).unwrap_err();
        assert!(ahead.contains("ms ahead of this host's clock, more than the 3600000 that topic `t` takes (its message.timestamp.after.max.ms)"), "{ahead}");
        let behind = at(limit, Some(now - 2 * 86_400_000)).unwrap_err();
        assert!(behind.contains("(its message.timestamp.before.max.ms)"), "{behind}");
        // A topic that stamps records with the broker's append time takes any.
        assert_eq!(at(TopicLimit::default(), Some(i64::MAX)), Ok(()));
        assert_eq!(at(TopicLimit::default(), Some(i64::MIN)), Ok(()));
    }
}
