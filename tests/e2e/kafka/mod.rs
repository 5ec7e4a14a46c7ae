//! Kafka end to end, on Apache Kafka (one broker shared by the tests, each with topics and
//! groups of its own, or a broker of a test's own when it restarts it) and on librdkafka's
//! mock cluster for injected faults, with a plain rdkafka client producing the input and
//! reading the output.

mod backpressure;
mod broker;
mod crash;
mod exactly_once;
mod group;
mod headers;
mod pipeline;
mod refusals;
mod restart;
mod security;
mod sizes;
mod start;
mod topics;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

pub use broker::Broker;

impl Broker {
    /// Topics `in` and `out` with `partitions` each, and a one-partition `dlq`: what
    /// [`kafka_pipeline`] reads and writes.
    pub fn with_pipeline_topics(self, partitions: i32) -> Broker {
        self.create_topic("in", partitions);
        self.create_topic("out", partitions);
        self.create_topic("dlq", 1);
        self
    }

    /// The body of a `[sources.NAME]` table that reads this test's topic `topic` as its
    /// group `group`.
    pub fn source_table(&self, group: &str, topic: &str) -> String {
        format!(
            "type = \"kafka\"\nbrokers = \"{}\"\ngroup = \"{}\"\ntopics = [\"{}\"]",
            self.address(),
            self.group(group),
            self.topic(topic)
        )
    }

    /// The body of a `[sinks.NAME]` table that writes to this test's topic `topic`.
    pub fn sink_table(&self, topic: &str) -> String {
        format!("type = \"kafka\"\nbrokers = \"{}\"\ntopic = \"{}\"", self.address(), self.topic(topic))
    }

    /// Creates this test's topic `name` ([`Broker::topic`]).
    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.create_topic_with(name, partitions, &[]);
    }

    /// Creates this test's topic `name` with topic-level `configs`.
    pub fn create_topic_with(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        let name = &self.topic(name);
        if let Some(cluster) = self.mock_cluster() {
            return cluster.create_topic(name, partitions, 1).expect("create a mock topic");
        }
        let admin: AdminClient<DefaultClientContext> = self.client().create().unwrap();
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (key, value) in configs {
            topic = topic.set(key, value);
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let results = runtime.block_on(admin.create_topics([&topic], &AdminOptions::new())).unwrap();
        for result in results {
            result.unwrap_or_else(|(topic, e)| panic!("cannot create topic {topic}: {e}"));
        }
    }

    /// Deletes this test's topic `name` and waits until the broker has.
    pub fn delete_topic(&self, name: &str) {
        let admin: AdminClient<DefaultClientContext> = self.client().create().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let results = runtime.block_on(admin.delete_topics(&[&self.topic(name)], &AdminOptions::new())).unwrap();
        for result in results {
            result.unwrap_or_else(|(topic, e)| panic!("cannot delete topic {topic}: {e}"));
        }
    }

    /// Produces `records` to this test's `topic` in order and waits until all are acknowledged.
    pub fn produce(&self, topic: &str, records: impl IntoIterator<Item = TestRecord>) {
        produce_to(&self.address(), &self.topic(topic), records);
    }

    /// The sum of `topic`'s partitions' end offsets: it grows with every record written,
    /// committed or not.
    pub fn end_offsets(&self, topic: &str) -> i64 {
        self.end_offsets_as(topic, "read_uncommitted")
    }

    /// How many offsets of `topic` belong to transactions not yet committed or aborted:
    /// the distance from each partition's last stable offset to its end.
    pub fn undecided(&self, topic: &str) -> i64 {
        self.end_offsets_as(topic, "read_uncommitted") - self.end_offsets_as(topic, "read_committed")
    }

    /// [`Broker::end_offsets`] as a client at `isolation.level` `isolation` sees them: a
    /// `read_committed` one is given each partition's last stable offset, where the first
    /// transaction still open begins.
    fn end_offsets_as(&self, topic: &str, isolation: &str) -> i64 {
        let topic = &self.topic(topic);
        let consumer: BaseConsumer = self.client().set("isolation.level", isolation).create().unwrap();
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
        let partitions = metadata.topics()[0].partitions();
        let ends = partitions.iter().map(|p| consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10)));
        ends.map(|end| end.unwrap().1).sum()
    }

    /// Reads `topic` from the beginning as a `read_committed` consumer, without a group,
    /// until `count` distinct records (by their `seq` header, when they have one) arrived
    /// and nothing more came for a second, or `timeout` passed. Records come back in order
    /// within each partition.
    pub fn consume(&self, topic: &str, count: usize, timeout: Duration) -> Vec<TestRecord> {
        self.consume_as(topic, "read_committed", count, timeout)
    }

    /// [`Broker::consume`] at `isolation.level` `isolation`: `read_uncommitted` also
    /// returns the records of aborted transactions.
    pub fn consume_as(&self, topic: &str, isolation: &str, count: usize, timeout: Duration) -> Vec<TestRecord> {
        let topic = &self.topic(topic);
        let consumer: BaseConsumer = self
            .client()
            .set("group.id", self.group("reader"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", isolation)
            .create()
            .unwrap();
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
        let mut assignment = TopicPartitionList::new();
        for partition in metadata.topics()[0].partitions() {
            assignment.add_partition_offset(topic, partition.id(), Offset::Beginning).unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut records = Vec::new();
        let mut distinct = std::collections::HashSet::new();
        let start = Instant::now();
        let mut last = Instant::now();
        while start.elapsed() < timeout && (distinct.len() < count || last.elapsed() < Duration::from_secs(1)) {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    last = Instant::now();
                    let record = TestRecord::from_message(&message);
                    distinct.insert(record.header("seq").map_or_else(|| records.len().to_string(), str::to_owned));
                    records.push(record);
                }
                Some(Err(e)) => eprintln!("test consumer: {e}"),
                None => {}
            }
        }
        records
    }
}

/// Produces `records` to `topic` at `address` in order and waits until all are
/// acknowledged. A free function, so that a thread can feed a topic while a test works.
pub fn produce_to(address: &str, topic: &str, records: impl IntoIterator<Item = TestRecord>) {
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", address).set("linger.ms", "5").create().unwrap();
    for record in records {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &record.headers {
            headers = headers.insert(Header { key, value: Some(value.as_bytes()) });
        }
        let mut message = BaseRecord::<str, str>::to(topic).payload(&record.value).headers(headers);
        if let Some(key) = &record.key {
            message = message.key(key);
        }
        if let Some(timestamp) = record.timestamp {
            message = message.timestamp(timestamp);
        }
        loop {
            match producer.send(message) {
                Ok(()) => break,
                Err((_, returned)) => {
                    message = returned;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("the broker acknowledged every test record");
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRecord {
    pub key: Option<String>,
    pub value: String,
    pub headers: Vec<(String, String)>,
    pub partition: i32,
    /// Milliseconds since the epoch; the producer's clock when `None`.
    pub timestamp: Option<i64>,
}

impl TestRecord {
    pub fn new(key: &str, value: String, headers: &[(&str, String)]) -> TestRecord {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        TestRecord { key: Some(key.to_owned()), value, headers, partition: -1, timestamp: None }
    }

    fn from_message(message: &impl Message) -> TestRecord {
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
        let headers = message
            .headers()
            .map(|h| h.iter().map(|h| (h.key.to_owned(), text(h.value).unwrap_or_default())).collect())
            .unwrap_or_default();
        TestRecord {
            key: text(message.key()),
            value: text(message.payload()).unwrap_or_default(),
            headers,
            partition: message.partition(),
            timestamp: message.timestamp().to_millis(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// `n` keyed JSON events with a `seq` header; every `invalid_every`-th is not valid JSON.
/// Keys repeat, so each key's records form an ordered sequence within one partition.
pub fn keyed_events(n: u64, invalid_every: u64) -> impl Iterator<Item = TestRecord> {
    keyed_events_in(0..n, invalid_every)
}

/// [`keyed_events`] with the ids in `ids`.
pub fn keyed_events_in(ids: std::ops::Range<u64>, invalid_every: u64) -> impl Iterator<Item = TestRecord> {
    ids.map(move |id| {
        let value = match invalid_every > 0 && id % invalid_every == invalid_every - 1 {
            true => format!("{{\"id\":{id},\"broken\""),
            false => format!("{{\"id\":{id},\"user\":\"u{}\"}}", id % 37),
        };
        TestRecord::new(&format!("user-{}", id % 37), value, &[("seq", id.to_string()), ("trace", format!("t{id}"))])
    })
}

/// How often each id appears, and for each key the ids in the order they were read.
pub fn ids_by_key(records: &[TestRecord]) -> (HashMap<u64, usize>, HashMap<String, Vec<u64>>) {
    let mut counts = HashMap::new();
    let mut by_key: HashMap<String, Vec<u64>> = HashMap::new();
    for record in records {
        let id: u64 = record.header("seq").expect("seq header survived").parse().unwrap();
        *counts.entry(id).or_default() += 1;
        by_key.entry(record.key.clone().expect("key survived")).or_default().push(id);
    }
    (counts, by_key)
}

/// Fails, with `log` for context, unless every id below `n` is in `counts`.
pub fn assert_none_missing(counts: &HashMap<u64, usize>, n: u64, log: &str) {
    let missing: Vec<u64> = (0..n).filter(|id| !counts.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} records lost, e.g. {:?}\nlog:\n{log}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}

/// Records that arrived more than once.
pub fn duplicates(counts: &HashMap<u64, usize>) -> usize {
    counts.values().map(|c| c - 1).sum()
}

/// Per key, the first arrival of each id is in order: a replay repeats a suffix, it never
/// reorders.
pub fn assert_first_arrivals_in_order(by_key: HashMap<String, Vec<u64>>) {
    for (key, ids) in by_key {
        let mut seen = std::collections::HashSet::new();
        let first: Vec<u64> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
        assert!(first.windows(2).all(|w| w[0] < w[1]), "key {key}: first arrivals out of order");
    }
}

/// A pipeline from Kafka topic `in` through `json-validate` to Kafka topic `out`, with
/// the dead letters in topic `dlq`.
pub fn kafka_pipeline(broker: &Broker, group: &str, source_extra: &str) -> String {
    let brokers = broker.address();
    let group = broker.group(group);
    let [input, out, dlq] = ["in", "out", "dlq"].map(|t| broker.topic(t));
    format!(
        r#"
[sources.input]
type = "kafka"
brokers = "{brokers}"
group = "{group}"
topics = ["{input}"]
{source_extra}

[sinks.out]
type = "kafka"
brokers = "{brokers}"
topic = "{out}"

[sinks.dlq]
type = "kafka"
brokers = "{brokers}"
topic = "{dlq}"

[pipelines.main]
source = "input"
plugins = [{{ name = "json-validate", config = {{ require = "id" }} }}]
routes = {{ out = ["out"] }}
default_route = "out"
dead_letter = "dlq"
batch_size = 500
batch_wait = "20ms"
"#
    )
}

/// `config` (a [`kafka_pipeline`]) made exactly-once, with `transactional_id`.
pub fn exactly_once(config: String, transactional_id: &str) -> String {
    config.replace(
        "[pipelines.main]\n",
        &format!(
            "[pipelines.main]\ndelivery = \"exactly-once\"\ntransactional_id = \"{transactional_id}\"\ntransaction_interval = \"50ms\"\n"
        ),
    )
}
