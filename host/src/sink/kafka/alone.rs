//! Records whose failure does not say whether the broker will ever take them, sent again
//! one per batch to find out.
//!
//! Two kinds of failure need a second look. The broker refuses a record *batch* whole
//! when one of its records is wrong, and librdkafka fails every record of the batch with
//! the same error: one record over the topic's `max.message.bytes`, or with a timestamp
//! out of its range, or invalid for it, costs its neighbours in the batch too (and a
//! batch of small records over the size limit, from a sink whose `batch_bytes` is above
//! it, costs all of them). And an error that
//! [`super::verdict`] does not know may pass or may not. So an at-least-once sink sends
//! such records again through a producer of their own that puts each record in a batch
//! of its own (`batch.num.messages = 1`): what the broker takes is delivered, what it
//! refuses alone for a reason that is the record's goes to the dead-letter sink with the
//! broker's error, and an unknown error gets [`ATTEMPTS`] tries, with backoff, before the
//! record is refused with a reason that says so. The Java producer splits too-large
//! batches for the same reason.
//!
//! Records sent again land after those written since, so the order of a key holds only
//! up to such a refusal, as for any retry with several requests in flight. An
//! exactly-once sink never gets here: a refusal inside a transaction aborts it, so it
//! checks what it can before producing instead (see [`super::limits`]).

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::verdict::{self, Verdict};
use super::{ProducerLog, produce, usable};
use crate::sink::Refused;

/// How many times a record that failed with an unknown error is sent again on its own
/// before it is refused.
pub const ATTEMPTS: u32 = 3;
/// The wait before the first of those attempts, doubled for each next one.
const FIRST_WAIT: Duration = Duration::from_millis(200);

/// Whether `error` is the broker refusing the batch a record was in for what one of its
/// records is, which may not be this one. (Errors about the topic, such as its being
/// gone, hold for every record alike: those need no second look.)
pub fn refused_with_its_batch(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(MessageSizeTooLarge | MessageBatchTooLarge | InvalidTimestamp | InvalidRecord)
    )
}

/// A producer that sends every record in a batch of its own, made the first time a
/// record needs it (most sinks never do), and made again after a fatal error.
pub struct Alone {
    name: String,
    config: ClientConfig,
    producer: Mutex<Option<FutureProducer<ProducerLog>>>,
}

/// A record whose delivery failed, to send again.
pub struct Doubt {
    /// Its index among the records of the flush.
    pub index: usize,
    pub message: OwnedMessage,
    /// Its timestamp, which `message` has lost.
    pub timestamp: Option<i64>,
    /// Why its last delivery failed.
    pub error: KafkaError,
}

impl Alone {
    /// `config` is the sink's own producer config (brokers, security, compression).
    pub fn new(name: &str, mut config: ClientConfig) -> Self {
        config.set("batch.num.messages", "1").set("linger.ms", "0");
        Alone { name: name.to_owned(), config, producer: Mutex::new(None) }
    }

    /// Sends each of `doubts` in a batch of its own until the broker takes it or refuses
    /// it for good, and returns those refused. `Err` if a record failed for a reason that
    /// is not the record's (the flush fails and is written again), or if the producer
    /// could not be made or stopped.
    pub async fn send(&self, mut doubts: Vec<Doubt>) -> anyhow::Result<Vec<Refused>> {
        tracing::warn!(
            sink = %self.name,
            records = doubts.len(),
            "sending records one per batch, to find those the broker refuses on their own (their batch was refused for one of its records, or they failed with an error not known to be transient)"
        );
        let mut refused = Vec::new();
        let mut wait = FIRST_WAIT;
        for attempt in 1..=ATTEMPTS {
            let producer = self.producer()?;
            let mut deliveries = Vec::with_capacity(doubts.len());
            for doubt in doubts {
                let delivery = produce(&producer, record_of(&doubt.message, doubt.timestamp)).await;
                deliveries.push((doubt, delivery));
            }
            let mut again = Vec::new();
            for (doubt, delivery) in deliveries {
                let index = doubt.index;
                let error = match delivery {
                    Ok(future) => match future.await {
                        Ok(Ok(_)) => continue,
                        Ok(Err((error, _))) => error,
                        Err(_) => anyhow::bail!("the Kafka producer stopped before reporting a delivery"),
                    },
                    Err(error) => error,
                };
                match verdict::of(&error) {
                    Verdict::Refuse => refused.push(Refused { index, reason: format!("kafka refused the record: {error}") }),
                    Verdict::Retry => return Err(error).context("delivery to Kafka failed"),
                    Verdict::Unknown if attempt < ATTEMPTS => again.push(Doubt { error, ..doubt }),
                    Verdict::Unknown => refused.push(Refused {
                        index,
                        reason: format!(
                            "kafka refused the record {} times with an error not known to be transient, the last: {error}",
                            ATTEMPTS + 1
                        ),
                    }),
                }
            }
            if again.is_empty() {
                break;
            }
            tracing::warn!(sink = %self.name, records = again.len(), retry_in = ?wait, error = %again[0].error, "records failed again with an error not known to be transient");
            tokio::time::sleep(wait).await;
            wait *= 2;
            doubts = again;
        }
        Ok(refused)
    }

    /// The producer, made if there is none or the last one hit a fatal error.
    fn producer(&self) -> anyhow::Result<FutureProducer<ProducerLog>> {
        let mut producer = self.producer.lock().expect("never held across a panic");
        if let Some(usable) = producer.as_ref().filter(|p| usable(&self.name, p)) {
            return Ok(usable.clone());
        }
        let made: FutureProducer<ProducerLog> = self
            .config
            .create_with_context(ProducerLog(self.name.clone()))
            .context("cannot create the Kafka producer")?;
        Ok(producer.insert(made).clone())
    }
}

/// `message` as a record to produce again, to the partition it was assigned if any.
fn record_of(message: &OwnedMessage, timestamp: Option<i64>) -> FutureRecord<'_, [u8], [u8]> {
    let mut record = FutureRecord::<[u8], [u8]>::to(message.topic());
    if message.partition() >= 0 {
        record = record.partition(message.partition());
    }
    if let Some(headers) = message.headers() {
        record = record.headers(headers.clone());
    }
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(value) = message.payload() {
        record = record.payload(value);
    }
    if let Some(timestamp) = timestamp {
        record = record.timestamp(timestamp);
    }
    record
}
