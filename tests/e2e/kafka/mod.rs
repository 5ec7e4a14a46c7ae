//! Kafka end to end, on a real Kafka-protocol broker (Tansu) that each test starts on a
//! port of its own, with a plain rdkafka client producing the input and reading the
//! output.

mod backpressure;
mod crash;
mod exactly_once;
mod group;
mod pipeline;
mod restart;
mod start;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{Offset, TopicPartitionList};

use crate::harness::workspace_root;

/// The Tansu binary: `$SLUICE_TANSU`, or the one `scripts/kafka-broker` builds once (the
/// test script does it first).
fn tansu() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("SLUICE_TANSU") {
            return path.into();
        }
        let output = Command::new(workspace_root().join("scripts/kafka-broker"))
            .arg("path")
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/kafka-broker path");
        assert!(output.status.success(), "scripts/kafka-broker could not provide tansu");
        PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
    })
}

/// A broker on 127.0.0.1, stopped when dropped.
pub struct Broker {
    kind: Kind,
    address: String,
}

enum Kind {
    /// A real broker process.
    Tansu(Child),
    /// librdkafka's in-process mock cluster, listening on a real socket: for what Tansu
    /// does not do, such as evicting a member that died without leaving its group.
    Mock(MockCluster<'static, DefaultProducerContext>),
}

impl Broker {
    /// A Tansu broker that keeps its data in memory.
    pub fn start() -> Broker {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = spawn_tansu(port);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "tansu exited while starting");
            assert!(start.elapsed() < Duration::from_secs(30), "tansu did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { kind: Kind::Tansu(child), address: format!("127.0.0.1:{port}") }
    }

    /// A mock cluster of one broker.
    pub fn mock() -> Broker {
        let cluster = MockCluster::new(1).expect("start the mock cluster");
        Broker { address: cluster.bootstrap_servers(), kind: Kind::Mock(cluster) }
    }

    /// Takes the mock cluster's broker down for `length`, then brings it back with its
    /// log intact: what a broker restart looks like to clients.
    pub fn outage(&self, length: Duration) {
        let cluster = self.mock_cluster();
        cluster.broker_down(1).expect("take the mock broker down");
        std::thread::sleep(length);
        cluster.broker_up(1).expect("bring the mock broker back");
    }

    /// Makes the mock cluster answer the next requests of kind `api` with `errors`.
    pub fn fail_requests(&self, api: RDKafkaApiKey, errors: &[RDKafkaRespErr]) {
        self.mock_cluster().request_errors(api, errors);
    }

    pub fn clear_failures(&self, api: RDKafkaApiKey) {
        self.mock_cluster().clear_request_errors(api);
    }

    fn mock_cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        match &self.kind {
            Kind::Mock(cluster) => cluster,
            Kind::Tansu(_) => panic!("fault injection needs the mock cluster"),
        }
    }

    pub fn address(&self) -> String {
        self.address.clone()
    }

    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.address());
        config
    }

    /// Topics `in` and `out` with `partitions` each, and a one-partition `dlq`: what
    /// [`kafka_pipeline`] reads and writes.
    pub fn with_pipeline_topics(self, partitions: i32) -> Broker {
        self.create_topic("in", partitions);
        self.create_topic("out", partitions);
        self.create_topic("dlq", 1);
        self
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        if let Kind::Mock(cluster) = &self.kind {
            return cluster.create_topic(name, partitions, 1).expect("create a mock topic");
        }
        let admin: AdminClient<DefaultClientContext> = self.client().create().unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let results = runtime.block_on(admin.create_topics([&topic], &AdminOptions::new())).unwrap();
        for result in results {
            result.unwrap_or_else(|(topic, e)| panic!("cannot create topic {topic}: {e}"));
        }
    }

    /// Produces `records` in order and waits until all are acknowledged.
    pub fn produce(&self, topic: &str, records: impl IntoIterator<Item = TestRecord>) {
        let producer: BaseProducer = self.client().set("linger.ms", "5").create().unwrap();
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

    /// Reads `topic` from the beginning, without a group, until `count` distinct records
    /// (by their `seq` header, when they have one) arrived and nothing more came for a
    /// second, or `timeout` passed. Records come back in order within each partition.
    pub fn consume(&self, topic: &str, count: usize, timeout: Duration) -> Vec<TestRecord> {
        let consumer: BaseConsumer = self.client().set("group.id", "sluice-tests-reader").create().unwrap();
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

fn spawn_tansu(port: u16) -> Child {
    let listener = format!("tcp://127.0.0.1:{port}");
    Command::new(tansu())
        .args(["broker", "--listener-url", &listener, "--advertised-listener-url", &listener])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tansu")
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Kind::Tansu(child) = &mut self.kind {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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
    (0..n).map(move |id| {
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
    format!(
        r#"
[sources.input]
type = "kafka"
brokers = "{brokers}"
group = "{group}"
topics = ["in"]
{source_extra}

[sinks.out]
type = "kafka"
brokers = "{brokers}"
topic = "out"

[sinks.dlq]
type = "kafka"
brokers = "{brokers}"
topic = "dlq"

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
