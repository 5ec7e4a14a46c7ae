//! Produces records to Kafka: to the sink's topic, or to the topic named like the route.
//!
//! `write` enqueues every record with librdkafka (which batches, compresses and retries
//! on its own) and `flush` hands over their delivery reports, which the driver awaits
//! while it writes the next records. The producer is
//! idempotent by default, so librdkafka's own retries never duplicate or reorder a
//! partition. A record the broker will never take (too large, topic missing, not
//! authorized) is refused and goes to the dead-letter sink with the broker's error; any
//! other failure (a timeout while the broker is down) fails the flush, and the driver
//! writes the records again. The broker refuses "too large" for a whole batch, so such
//! records are first sent again one per batch ([`alone`]) to tell the record too large
//! from its neighbours.
//!
//! In an exactly-once pipeline the producer is transactional: records are written
//! inside a transaction that [`TransactionalSink::commit`] commits together with the
//! source's offsets (see [`crate::kafka::exactly_once`]). There, any delivery failure
//! dooms the whole transaction, so it is an error rather than a refusal, and records too
//! large for their topic are refused before they are produced ([`limits`]).

mod alone;
mod limits;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientContext, config::RDKafkaLogLevel};

use self::alone::{Alone, refused_with_its_batch};
use self::limits::{TopicLimit, TopicLimits};

use super::{Flushing, Refused, Sink, TransactionalSink};
use crate::config::{KafkaSinkConfig, kafka_property};
use crate::kafka::exactly_once::{SinkLink, SourceOffsets};
use crate::record::Record;

/// How long to wait for room when librdkafka's queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);

pub struct KafkaSink {
    producer: FutureProducer<ProducerLog>,
    topic: Option<String>,
    /// Delivery reports of the records written since the last flush, in write order;
    /// `Err` for records refused when they were enqueued.
    pending: Vec<Result<DeliveryFuture, String>>,
    /// At-least-once pipelines only: where records refused with their batch go again.
    alone: Option<Arc<Alone>>,
    /// Exactly-once pipelines only.
    transaction: Option<Transaction>,
}

/// The transactional producer's state.
struct Transaction {
    id: String,
    link: SinkLink,
    /// Whether a transaction has begun and not yet been committed.
    open: bool,
    /// `transaction.timeout.ms`: the broker aborts a transaction open for longer.
    timeout: Duration,
    /// What each topic takes, to refuse a record before it dooms the transaction.
    limits: TopicLimits,
}

impl KafkaSink {
    pub fn open(name: &str, config: &KafkaSinkConfig) -> anyhow::Result<Self> {
        Self::create(name, config, None)
    }

    /// A transactional producer for an exactly-once pipeline; `link` brings the source's
    /// offsets. Fences any earlier producer with the same `transactional_id` and aborts
    /// the transaction it left open.
    pub async fn open_transactional(
        name: &str,
        config: &KafkaSinkConfig,
        transactional_id: &str,
        link: SinkLink,
    ) -> anyhow::Result<Self> {
        let timeout = kafka_property(&config.properties, "transaction.timeout.ms")
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::from_secs(60), Duration::from_millis);
        let admin = crate::kafka::client_config(&config.brokers, &[], &config.properties)
            .create_with_context(ProducerLog(name.to_owned()))
            .context("cannot create the Kafka admin client")?;
        let limits = TopicLimits::new(admin, config.batch_bytes.as_u64(), config.topic.as_deref()).await;
        let transaction = Transaction { id: transactional_id.to_owned(), link, open: false, timeout, limits };
        let sink = Self::create(name, config, Some(transaction))?;
        let producer = sink.producer.clone();
        tokio::task::spawn_blocking(move || producer.init_transactions(timeout))
            .await
            .expect("init_transactions panicked")
            .with_context(|| format!("cannot start transactions as `{transactional_id}`"))?;
        Ok(sink)
    }

    fn create(name: &str, config: &KafkaSinkConfig, transaction: Option<Transaction>) -> anyhow::Result<Self> {
        // A transaction's batches may be capped at its topic's limit.
        let batch_bytes = transaction.as_ref().map_or(config.batch_bytes.as_u64(), |t| t.limits.batch_bytes());
        let mut defaults = vec![
            ("enable.idempotence", "true".to_owned()),
            ("compression.type", config.compression.clone()),
            ("linger.ms", config.linger.as_millis().to_string()),
            ("batch.size", batch_bytes.to_string()),
            ("message.timeout.ms", config.delivery_timeout.as_millis().to_string()),
        ];
        if let Some(transaction) = &transaction {
            defaults.push(("transactional.id", transaction.id.clone()));
        }
        let client = crate::kafka::client_config(&config.brokers, &defaults, &config.properties);
        let producer =
            client.create_with_context(ProducerLog(name.to_owned())).context("cannot create the Kafka producer")?;
        let alone = transaction.is_none().then(|| Arc::new(Alone::new(name, client)));
        Ok(KafkaSink { producer, topic: config.topic.clone(), pending: Vec::new(), alone, transaction })
    }

    /// `limit`: in a transaction, what the topic takes.
    async fn enqueue(&self, topic: &str, limit: Option<TopicLimit>, record: &Record) -> Result<DeliveryFuture, String> {
        if let Some(limit) = limit {
            limit.check(record, topic)?;
        }
        let mut message = FutureRecord::<[u8], [u8]>::to(topic);
        // librdkafka allocates a header list even for none.
        if record.header_count() > 0 {
            let mut headers = OwnedHeaders::new_with_capacity(record.header_count());
            for (key, value) in record.headers() {
                headers = headers.insert(Header { key, value: Some(value) });
            }
            message = message.headers(headers);
        }
        if let Some(key) = record.key() {
            message = message.key(key);
        }
        if let Some(value) = record.value() {
            message = message.payload(value);
        }
        if let Some(timestamp) = record.timestamp {
            message = message.timestamp(timestamp);
        }
        produce(&self.producer, message)
            .await
            .map_err(|error| format!("kafka refused the record for topic `{topic}`: {error}"))
    }
}

/// Hands `message` to librdkafka, waiting for room while its queue is full.
async fn produce(
    producer: &FutureProducer<ProducerLog>,
    mut message: FutureRecord<'_, [u8], [u8]>,
) -> Result<DeliveryFuture, KafkaError> {
    loop {
        match producer.send_result(message) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                message = returned;
                tokio::time::sleep(QUEUE_FULL_WAIT).await;
            }
            Err((error, _)) => return Err(error),
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
        let mut limit = None;
        if let Some(transaction) = &mut self.transaction {
            if !transaction.open {
                self.producer.begin_transaction().context("cannot begin a transaction")?;
                transaction.open = true;
            }
            limit = Some(transaction.limits.limit(&topic).await);
        }
        for record in records {
            let delivery = self.enqueue(&topic, limit, record).await;
            self.pending.push(delivery);
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<Flushing> {
        // The next flush will likely hold as many records: keep the capacity.
        let next = Vec::with_capacity(self.pending.len());
        let pending = std::mem::replace(&mut self.pending, next);
        // In a transaction a failed delivery dooms the whole transaction: it cannot be
        // dead-lettered on its own.
        let refusable = self.transaction.is_none();
        let alone = self.alone.clone();
        Ok(Flushing::later(async move {
            let mut refused = Vec::new();
            let mut failed = None;
            let mut with_their_batch = Vec::new();
            for (index, delivery) in pending.into_iter().enumerate() {
                let error = match delivery {
                    Err(reason) => {
                        refused.push(Refused { index, reason });
                        continue;
                    }
                    Ok(future) => match future.await {
                        Ok(Ok(_)) => continue,
                        Ok(Err((error, message))) if alone.is_some() && refused_with_its_batch(&error) => {
                            with_their_batch.push((index, message));
                            continue;
                        }
                        Ok(Err((error, _))) => error,
                        Err(_) => anyhow::bail!("the Kafka producer stopped before reporting a delivery"),
                    },
                };
                judge(index, error, refusable, &mut refused, &mut failed);
            }
            // After a failure the driver writes the whole flush again anyway.
            if let Some(alone) = alone
                && failed.is_none()
                && !with_their_batch.is_empty()
            {
                for (index, outcome) in alone.send(with_their_batch).await? {
                    if let Err(error) = outcome {
                        judge(index, error, refusable, &mut refused, &mut failed);
                    }
                }
            }
            match failed {
                Some(error) => Err(error).context("delivery to Kafka failed"),
                None => Ok(refused),
            }
        }))
    }
}

/// Files the failed delivery of record `index`: refused for good (dead-lettered with the
/// broker's error) or a failure of the whole flush.
fn judge(
    index: usize,
    error: KafkaError,
    refusable: bool,
    refused: &mut Vec<Refused>,
    failed: &mut Option<KafkaError>,
) {
    if refusable && is_permanent(&error) {
        refused.push(Refused { index, reason: format!("kafka refused the record: {error}") });
    } else {
        failed.get_or_insert(error);
    }
}

impl TransactionalSink for KafkaSink {
    async fn commit(&mut self) -> anyhow::Result<()> {
        let transaction = self.transaction.as_mut().expect("only transactional Kafka sinks are run as such");
        if let Some(reason) = transaction.link.failure() {
            anyhow::bail!("not committing: {reason}");
        }
        let source = transaction.link.take_offsets()?;
        if !transaction.open && source.is_none() {
            return Ok(());
        }
        let (producer, timeout, open) = (self.producer.clone(), transaction.timeout, transaction.open);
        tokio::task::spawn_blocking(move || {
            if !open {
                producer.begin_transaction()?;
            }
            if let Some(SourceOffsets { offsets, group }) = source {
                producer.send_offsets_to_transaction(&offsets, &group, timeout)?;
            }
            producer.commit_transaction(timeout)
        })
        .await
        .expect("commit_transaction panicked")
        .with_context(|| format!("cannot commit the transaction of `{}`", transaction.id))?;
        transaction.open = false;
        Ok(())
    }

    async fn abort(&mut self, reason: &str) {
        let transaction = self.transaction.as_mut().expect("only transactional Kafka sinks are run as such");
        if transaction.open {
            let (producer, timeout) = (self.producer.clone(), transaction.timeout);
            // After a fatal error (fenced) there is nothing to abort; the broker discards
            // the transaction when it times out or the next instance takes the id over.
            let aborted = tokio::task::spawn_blocking(move || producer.abort_transaction(timeout)).await;
            if let Ok(Err(error)) = aborted {
                tracing::warn!(transactional_id = %transaction.id, %error, "cannot abort the transaction");
            }
            transaction.open = false;
        }
        transaction.link.fail(reason.to_owned());
    }

    fn transaction_timeout(&self) -> Duration {
        self.transaction.as_ref().map_or(Duration::MAX, |t| t.timeout)
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
