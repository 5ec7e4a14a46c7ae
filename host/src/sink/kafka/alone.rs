//! Records the broker refused with a whole batch, sent again one per batch.
//!
//! The broker holds a topic's `max.message.bytes` against a record *batch*, and
//! librdkafka fails every record of a refused batch with the same "message size too
//! large": one record over the limit costs its neighbours in the batch too, and a batch
//! of small records over it (a sink whose `batch_bytes` is above the topic's limit) costs
//! all of them. Only a record sent on its own says whether it is the one too large. So an
//! at-least-once sink sends such records again through a producer of their own that puts
//! each record in a batch of its own (`batch.num.messages = 1`): what the broker takes is
//! delivered, what it refuses even alone goes to the dead-letter sink with the broker's
//! error. The Java producer splits such batches for the same reason.
//!
//! Records sent again land after those written since, so the order of a key holds only
//! up to such a refusal, as for any retry with several requests in flight. An
//! exactly-once sink never gets here: a refusal inside a transaction aborts it, so it
//! checks sizes before producing instead (see [`super::limits`]).

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::OnceCell;

use super::{ProducerLog, produce};

/// Whether `error` is the broker refusing the batch a record was in as too large, rather
/// than the record itself.
pub fn refused_with_its_batch(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge)
    )
}

/// A producer that sends every record in a batch of its own, made the first time a
/// batch is refused (most sinks never need it).
pub struct Alone {
    name: String,
    config: ClientConfig,
    producer: OnceCell<FutureProducer<ProducerLog>>,
}

impl Alone {
    /// `config` is the sink's own producer config (brokers, security, compression).
    pub fn new(name: &str, mut config: ClientConfig) -> Self {
        config.set("batch.num.messages", "1").set("linger.ms", "0");
        Alone { name: name.to_owned(), config, producer: OnceCell::new() }
    }

    /// Sends each of `records` in a batch of its own and returns, for each, whether the
    /// broker took it. `Err` if the producer could not be made or stopped.
    pub async fn send(
        &self,
        records: Vec<(usize, OwnedMessage)>,
    ) -> anyhow::Result<Vec<(usize, Result<(), KafkaError>)>> {
        tracing::warn!(
            sink = %self.name,
            records = records.len(),
            "the broker refused a batch as too large; sending its records one per batch to find those it refuses on their own"
        );
        let producer = self
            .producer
            .get_or_try_init(|| async {
                self.config
                    .create_with_context(ProducerLog(self.name.clone()))
                    .context("cannot create the Kafka producer")
            })
            .await?;
        let mut deliveries = Vec::with_capacity(records.len());
        for (index, mut message) in records {
            let headers = message.detach_headers();
            let mut record = FutureRecord::<[u8], [u8]>::to(message.topic());
            if message.partition() >= 0 {
                record = record.partition(message.partition());
            }
            if let Some(headers) = headers {
                record = record.headers(headers);
            }
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(value) = message.payload() {
                record = record.payload(value);
            }
            if let Some(timestamp) = message.timestamp().to_millis() {
                record = record.timestamp(timestamp);
            }
            deliveries.push((index, produce(producer, record).await));
        }
        let mut outcomes = Vec::with_capacity(deliveries.len());
        for (index, delivery) in deliveries {
            let outcome = match delivery {
                Ok(future) => match future.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((error, _))) => Err(error),
                    Err(_) => anyhow::bail!("the Kafka producer stopped before reporting a delivery"),
                },
                Err(error) => Err(error),
            };
            outcomes.push((index, outcome));
        }
        Ok(outcomes)
    }
}
