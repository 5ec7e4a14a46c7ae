//! Produces records to Kafka: to the sink's topic, or to the topic named like the route.
//!
//! `write` enqueues every record with librdkafka (which batches, compresses and retries
//! on its own) and `flush` hands over their delivery reports, which the driver awaits
//! while it writes the next records. The producer is
//! idempotent by default, so librdkafka's own retries never duplicate or reorder a
//! partition. What a failed delivery means is [`verdict`]'s to say: a record the broker
//! will never take (too large, a timestamp out of range, topic missing, not authorized)
//! is refused and goes to the dead-letter sink with the broker's error; a failure that is
//! not the record's (a timeout while the broker is down, a producer fenced or hit by a
//! fatal error) fails the flush, and the driver writes the records again, through a new
//! producer if the old one can send nothing more. The broker refuses "too large" for a
//! whole batch, and an error the verdict does not know may pass, so such records are
//! first sent again one per batch ([`alone`]) to tell what the broker refuses on its own.
//!
//! In an exactly-once pipeline the producer is transactional: records are written
//! inside a transaction that [`TransactionalSink::commit`] commits together with the
//! source's offsets (see [`crate::kafka::exactly_once`]). There, any delivery failure
//! dooms the whole transaction, so it is an error rather than a refusal, and records the
//! topic would refuse (too large, a timestamp out of its range) are refused before they
//! are produced ([`limits`]).

mod alone;
mod limits;
mod verdict;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientContext, config::RDKafkaLogLevel};

use self::alone::{Alone, Doubt, refused_with_its_batch};
use self::limits::{TopicLimit, TopicLimits};
use self::verdict::Verdict;

use super::{Flushing, Refused, Sink, TransactionalSink};
use crate::config::KafkaSinkConfig;
use crate::kafka::exactly_once::{SinkLink, SourceOffsets};
use crate::record::Record;

/// How long to wait for room when librdkafka's queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);

pub struct KafkaSink {
    name: String,
    producer: FutureProducer<ProducerLog>,
    /// What `producer` was made from, to make another after a fatal error.
    client: rdkafka::ClientConfig,
    topic: Option<String>,
    /// Delivery reports of the records written since the last flush, in write order;
    /// `Err` for records refused when they were enqueued.
    pending: Vec<Pending>,
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
        let timeout = config.transaction_timeout();
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
        let alone = transaction.is_none().then(|| Arc::new(Alone::new(name, client.clone())));
        Ok(KafkaSink {
            name: name.to_owned(),
            producer,
            client,
            topic: config.topic.clone(),
            pending: Vec::new(),
            alone,
            transaction,
        })
    }

    /// An at-least-once sink's producer that hit a fatal error (an idempotence failure,
    /// the cluster refusing its producer id) can send nothing more, and librdkafka's
    /// answer is a new producer: the records it failed are written again through it.
    /// A transactional producer is not replaced here: its failure aborts the transaction
    /// and stops the pipeline, which restarts from the last commit.
    fn replace_if_fatal(&mut self) -> anyhow::Result<()> {
        if self.transaction.is_none() && !usable(&self.name, &self.producer) {
            self.producer = self
                .client
                .create_with_context(ProducerLog(self.name.clone()))
                .context("cannot create the Kafka producer")?;
        }
        Ok(())
    }

    /// `limit`: in a transaction, what the topic takes.
    async fn enqueue(
        &self,
        topic: &str,
        limit: Option<TopicLimit>,
        record: &Record,
    ) -> Result<DeliveryFuture, Enqueue> {
        if let Some(limit) = limit {
            limit.check(record, topic).map_err(Enqueue::Refused)?;
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
        produce(&self.producer, message).await.map_err(|error| match verdict::of(&error) {
            Verdict::Refuse => Enqueue::Refused(format!("kafka refused the record for topic `{topic}`: {error}")),
            Verdict::Retry | Verdict::Unknown => Enqueue::Failed(error),
        })
    }
}

/// A record written since the last flush.
struct Pending {
    delivery: Result<DeliveryFuture, String>,
    /// The record's timestamp, to send it again with: the message a failed delivery
    /// hands back has lost it.
    timestamp: Option<i64>,
}

/// Why a record could not be handed to librdkafka.
enum Enqueue {
    /// Never: it goes to the dead-letter sink with the reason (it was never produced, so
    /// not even a transaction is doomed by it).
    Refused(String),
    /// Not now: the write fails and is retried (or, in a transaction, aborts it).
    Failed(KafkaError),
}

/// Whether `producer` can still send: false after a fatal error, which is logged.
fn usable(sink: &str, producer: &FutureProducer<ProducerLog>) -> bool {
    match producer.client().fatal_error() {
        None => true,
        Some((code, reason)) => {
            tracing::warn!(sink, error = ?code, reason, "the Kafka producer hit a fatal error; replacing it");
            false
        }
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

impl Sink for KafkaSink {
    async fn write(&mut self, route: Option<&str>, records: &[Record]) -> anyhow::Result<()> {
        let topic = self.topic.as_deref().or(route).expect("config gives dead-letter Kafka sinks a topic").to_owned();
        self.replace_if_fatal()?;
        let mut limit = None;
        if let Some(transaction) = &mut self.transaction {
            if !transaction.open {
                self.producer.begin_transaction().context("cannot begin a transaction")?;
                transaction.open = true;
            }
            limit = Some(transaction.limits.limit(&topic).await);
        }
        for record in records {
            let timestamp = record.timestamp;
            match self.enqueue(&topic, limit, record).await {
                Ok(delivery) => self.pending.push(Pending { delivery: Ok(delivery), timestamp }),
                Err(Enqueue::Refused(reason)) => self.pending.push(Pending { delivery: Err(reason), timestamp }),
                Err(Enqueue::Failed(error)) => {
                    // The driver writes everything since the last flush again: keep no half of it.
                    self.pending.clear();
                    return Err(error).with_context(|| format!("cannot produce to topic `{topic}`"));
                }
            }
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
            let mut outcome = Outcome { refusable, ..Outcome::default() };
            for (index, Pending { delivery, timestamp }) in pending.into_iter().enumerate() {
                match delivery {
                    Err(reason) => outcome.refused.push(Refused { index, reason }),
                    Ok(future) => match future.await {
                        Ok(Ok(_)) => {}
                        Ok(Err((error, message))) => outcome.judge(Doubt { index, message, timestamp, error }),
                        Err(_) => anyhow::bail!("the Kafka producer stopped before reporting a delivery"),
                    },
                }
            }
            if let Some(error) = outcome.failed {
                // The driver writes the whole flush again anyway.
                return Err(error).context("delivery to Kafka failed");
            }
            if let Some(alone) = alone
                && !outcome.doubts.is_empty()
            {
                outcome.refused.extend(alone.send(outcome.doubts).await?);
            }
            Ok(outcome.refused)
        }))
    }
}

/// What a flush's failed deliveries come to.
#[derive(Default)]
struct Outcome {
    /// Whether a record can be refused on its own, or sent again on its own ([`alone`]):
    /// not inside a transaction, where any failed delivery dooms the whole transaction.
    refusable: bool,
    refused: Vec<Refused>,
    doubts: Vec<Doubt>,
    /// The first failure that is not a record's: the whole flush fails.
    failed: Option<KafkaError>,
}

impl Outcome {
    /// Files a failed delivery by its [`verdict`].
    fn judge(&mut self, failed: Doubt) {
        if !self.refusable {
            self.failed.get_or_insert(failed.error);
            return;
        }
        match verdict::of(&failed.error) {
            Verdict::Refuse if !refused_with_its_batch(&failed.error) => self
                .refused
                .push(Refused { index: failed.index, reason: format!("kafka refused the record: {}", failed.error) }),
            Verdict::Refuse | Verdict::Unknown => self.doubts.push(failed),
            Verdict::Retry => {
                self.failed.get_or_insert(failed.error);
            }
        }
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
        // After a fatal error (fenced) there is nothing to abort; the broker discards the
        // transaction when it times out or the next instance takes the id over.
        if let Err(error) = self.discard().await {
            let id = self.transaction.as_ref().map(|t| t.id.as_str()).unwrap_or_default();
            tracing::warn!(transactional_id = id, error = format!("{error:#}"), "cannot abort the transaction");
        }
        let transaction = self.transaction.as_mut().expect("only transactional Kafka sinks are run as such");
        transaction.link.fail(reason.to_owned());
    }

    async fn discard(&mut self) -> anyhow::Result<()> {
        let transaction = self.transaction.as_mut().expect("only transactional Kafka sinks are run as such");
        if transaction.open {
            let (producer, timeout) = (self.producer.clone(), transaction.timeout);
            // Not open any more either way: an abort that failed leaves nothing to abort.
            transaction.open = false;
            tokio::task::spawn_blocking(move || producer.abort_transaction(timeout))
                .await
                .expect("abort_transaction panicked")
                .with_context(|| format!("cannot abort the transaction of `{}`", transaction.id))?;
        }
        Ok(())
    }

    async fn source_failed(&self) -> String {
        self.transaction.as_ref().expect("only transactional Kafka sinks are run as such").link.failed().await
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
