//! Produces records to Kafka: to the sink's topic, or to the topic named like the route.
//!
//! `write` enqueues every record with librdkafka (which batches, compresses and retries
//! on its own) and `flush` waits for each one's delivery report. The producer is
//! idempotent by default, so librdkafka's own retries never duplicate or reorder a
//! partition. A record the broker will never take (too large, topic missing, not
//! authorized) is refused and goes to the dead-letter sink with the broker's error; any
//! other failure (a timeout while the broker is down) fails the flush, and the driver
//! writes the records again.

use std::time::Duration;

use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{ClientContext, config::RDKafkaLogLevel};

use super::{Refused, Sink};
use crate::config::KafkaSinkConfig;
use crate::record::Record;

/// How long to wait for room when librdkafka's queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);

pub struct KafkaSink {
    producer: FutureProducer<ProducerLog>,
    topic: Option<String>,
    /// Delivery reports of the records written since the last flush, in write order;
    /// `Err` for records refused when they were enqueued.
    pending: Vec<Result<DeliveryFuture, String>>,
}

impl KafkaSink {
    pub fn open(name: &str, config: &KafkaSinkConfig) -> anyhow::Result<Self> {
        let defaults = [
            ("enable.idempotence", "true".to_owned()),
            ("compression.type", config.compression.clone()),
            ("linger.ms", config.linger.as_millis().to_string()),
            ("batch.size", config.batch_bytes.as_u64().to_string()),
            ("message.timeout.ms", config.delivery_timeout.as_millis().to_string()),
        ];
        let producer = crate::kafka::client_config(&config.brokers, &defaults, &config.properties)
            .create_with_context(ProducerLog(name.to_owned()))
            .context("cannot create the Kafka producer")?;
        Ok(KafkaSink { producer, topic: config.topic.clone(), pending: Vec::new() })
    }

    async fn enqueue(&self, topic: &str, record: &Record) -> Result<DeliveryFuture, String> {
        let mut headers = OwnedHeaders::new_with_capacity(record.header_count());
        for (key, value) in record.headers() {
            headers = headers.insert(Header { key, value: Some(value) });
        }
        let mut message = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
        if let Some(key) = record.key() {
            message = message.key(key);
        }
        if let Some(value) = record.value() {
            message = message.payload(value);
        }
        if let Some(timestamp) = record.timestamp {
            message = message.timestamp(timestamp);
        }
        loop {
            match self.producer.send_result(message) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    message = returned;
                    tokio::time::sleep(QUEUE_FULL_WAIT).await;
                }
                Err((error, _)) => return Err(format!("kafka refused the record for topic `{topic}`: {error}")),
            }
        }
    }
}

/// Errors that no retry will fix: the record goes to the dead-letter sink instead.
fn is_permanent(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(
            MessageSizeTooLarge
                | InvalidMessageSize
                | MessageBatchTooLarge
                | InvalidRecord
                | InvalidMessage
                | UnknownTopic
                | UnknownTopicOrPartition
                | TopicAuthorizationFailed
                | InvalidTopic
        )
    )
}

impl Sink for KafkaSink {
    async fn write(&mut self, route: Option<&str>, records: &[Record]) -> anyhow::Result<()> {
        let topic = self.topic.as_deref().or(route).expect("config gives dead-letter Kafka sinks a topic").to_owned();
        for record in records {
            let delivery = self.enqueue(&topic, record).await;
            self.pending.push(delivery);
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<Vec<Refused>> {
        let mut refused = Vec::new();
        let mut failed = None;
        for (index, delivery) in self.pending.drain(..).enumerate() {
            let reason = match delivery {
                Err(reason) => reason,
                Ok(future) => match future.await {
                    Ok(Ok(_)) => continue,
                    Ok(Err((error, _))) if is_permanent(&error) => format!("kafka refused the record: {error}"),
                    Ok(Err((error, _))) => {
                        failed.get_or_insert(error);
                        continue;
                    }
                    Err(_) => anyhow::bail!("the Kafka producer stopped before reporting a delivery"),
                },
            };
            refused.push(Refused { index, reason });
        }
        match failed {
            Some(error) => Err(error).context("delivery to Kafka failed"),
            None => Ok(refused),
        }
    }
}

/// librdkafka's logs and errors, under the sink's name.
struct ProducerLog(String);

impl ClientContext for ProducerLog {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        crate::kafka::log(&self.0, level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        crate::kafka::error(&self.0, error, reason);
    }
}
