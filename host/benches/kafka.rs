//! Kafka → identity plugin → Kafka, side by side with a plain rdkafka consume → produce
//! loop (no Wasm, no acknowledgement tracking): the ceiling on the same broker. The plain
//! loop runs as one group consumer on one thread, and as two threads reading two
//! partition queues each (the way Sluice reads with both cores); the faster is the ceiling.
//!
//! The contenders run one after the other against one Apache Kafka broker on this machine, in
//! `ROUNDS` alternating rounds, each on fresh topics:
//!
//! 1. **throughput**: `RECORDS` records wait in a 4-partition input topic; the contender
//!    starts and the output topic's end offsets are polled. The rate is taken between 1%
//!    and 100% of the output, so start-up (plugin compilation, joining the group) is left
//!    out for all of them.
//! 2. **latency**: while the contender keeps running, `LATENCY_RATE` records/s are
//!    produced for `LATENCY_SECONDS`, each stamped with its send time, and a reader of the
//!    output measures arrival time minus that stamp (every contender keeps timestamps).
//!
//! Run with `scripts/bench` (which builds the plugins and the broker first).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

const RECORDS: u64 = 500_000;
const PARTITIONS: i32 = 4;
const VALUE_BYTES: usize = 100;
const LATENCY_RATE: u64 = 5_000;
const LATENCY_SECONDS: u64 = 10;
/// Each contender runs this many times, alternating, so that drift in the shared machine
/// or the broker's growing memory does not favour one of them.
const ROUNDS: usize = 3;
/// See [`consumer_config`].
const FETCH_WAIT_MS: &str = "10";

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let broker = Broker::start(&root);
    let contenders = [Contender::Plain(Reading::Group), Contender::Plain(Reading::Split(2)), Contender::Sluice];
    let mut results: Vec<Vec<Measured>> = contenders.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUNDS {
        for (contender, results) in contenders.iter().zip(&mut results) {
            results.push(measure(&broker, &root, *contender, round));
        }
    }
    println!("\n| contender | round | records/s | p50 latency | p99 latency |\n| --- | ---: | ---: | ---: | ---: |");
    for (contender, results) in contenders.iter().zip(&results) {
        for (round, r) in results.iter().enumerate() {
            println!(
                "| {} | {} | {:.0} | {:.0} ms | {:.0} ms |",
                contender.name(),
                round + 1,
                r.rate,
                r.p50_ms,
                r.p99_ms
            );
        }
    }
    let medians: Vec<f64> = results
        .iter()
        .map(|results| {
            let mut rates: Vec<f64> = results.iter().map(|r| r.rate).collect();
            rates.sort_by(f64::total_cmp);
            rates[rates.len() / 2]
        })
        .collect();
    println!();
    for (contender, median) in contenders.iter().zip(&medians) {
        println!("median of {}: {median:.0} records/s", contender.name());
    }
    let ceiling = medians[0].max(medians[1]);
    println!("sluice / the faster plain passthrough: {:.1}%", medians[2] * 100.0 / ceiling);
}

struct Measured {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

#[derive(Clone, Copy)]
enum Contender {
    /// The ceiling: consume and produce, nothing else.
    Plain(Reading),
    Sluice,
}

impl Contender {
    fn name(self) -> String {
        match self {
            Contender::Plain(Reading::Group) => "plain rdkafka passthrough, group consumer".to_owned(),
            Contender::Plain(Reading::Split(threads)) => format!("plain rdkafka passthrough, {threads} threads"),
            Contender::Sluice => "sluice (passthrough.wasm)".to_owned(),
        }
    }
}

fn measure(broker: &Broker, root: &Path, contender: Contender, round: usize) -> Measured {
    let prefix = match contender {
        Contender::Plain(Reading::Group) => "plain-group".to_owned(),
        Contender::Plain(Reading::Split(threads)) => format!("plain-split{threads}"),
        Contender::Sluice => "sluice".to_owned(),
    };
    let (input, output) = (format!("{prefix}-{round}-in"), format!("{prefix}-{round}-out"));
    broker.create_topics(&[&input, &output]);
    broker.produce(&input, RECORDS, None);
    // What the contender can pass on: the broker was seen to hold fewer records than it
    // acknowledged (`produce` says so when it happens).
    let stored = broker.records_in().count(&input);

    let running = match contender {
        Contender::Plain(reading) => Running::Plain(PlainPassthrough::start(broker, &input, &output, reading)),
        Contender::Sluice => Running::Sluice(start_sluice(broker, root, &input, &output)),
    };
    let rate = throughput(broker, &output, stored);
    eprintln!("{}: {rate:.0} records/s", contender.name());
    let (p50_ms, p99_ms) = latency(broker, &input, &output);
    eprintln!("{}: p50 {p50_ms:.1} ms, p99 {p99_ms:.1} ms", contender.name());
    running.stop();
    Measured { rate, p50_ms, p99_ms }
}

/// Records/s into `output`, from when 1% of `expected` is there until all of it is, or
/// until the output stops growing (the count is printed).
fn throughput(broker: &Broker, output: &str, expected: u64) -> f64 {
    let records_in = broker.records_in();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut started = None;
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        let done = records_in.count(output);
        let now = Instant::now();
        if started.is_none() && done >= expected / 100 {
            started = Some((now, done));
        }
        if done != last {
            (last, last_change) = (done, now);
        }
        if let Some((at, from)) = started
            && (done >= expected || now - last_change > Duration::from_secs(3))
        {
            eprintln!("{done} of {expected} records in the output");
            return (done - from) as f64 / (last_change - at).as_secs_f64();
        }
        assert!(now < deadline, "only {done} of {expected} records arrived in 10 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// p50 and p99 of send-to-arrival time, in milliseconds, at `LATENCY_RATE`.
fn latency(broker: &Broker, input: &str, output: &str) -> (f64, f64) {
    let reader: BaseConsumer = consumer_config(broker, "bench-latency").create().unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment.add_partition_offset(output, p, Offset::End).unwrap();
    }
    reader.assign(&assignment).unwrap();
    // Let the reader settle at the end before anything new is sent.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(2) {
        reader.poll(Duration::from_millis(100));
    }
    let expected = LATENCY_RATE * LATENCY_SECONDS;
    let sender = {
        let (broker, input) = (broker.address.clone(), input.to_owned());
        std::thread::spawn(move || Broker::at(broker).produce(&input, expected, Some(LATENCY_RATE)))
    };
    let mut latencies = Vec::with_capacity(expected as usize);
    let deadline = Instant::now() + Duration::from_secs(LATENCY_SECONDS + 60);
    let mut last_arrival = Instant::now();
    while (latencies.len() as u64) < expected
        && Instant::now() < deadline
        && !(sender.is_finished() && last_arrival.elapsed() > Duration::from_secs(3))
    {
        if let Some(Ok(message)) = reader.poll(Duration::from_millis(100)) {
            let sent = message.timestamp().to_millis().unwrap();
            latencies.push((now_millis() - sent) as f64);
            last_arrival = Instant::now();
        }
    }
    sender.join().unwrap();
    eprintln!("{} of {expected} latency probes arrived", latencies.len());
    assert!(latencies.len() as u64 >= expected * 9 / 10, "only {} of {expected} arrived", latencies.len());
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    (at(0.50), at(0.99))
}

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

enum Running {
    Plain(PlainPassthrough),
    Sluice(Child),
}

impl Running {
    fn stop(self) {
        match self {
            Running::Plain(plain) => plain.stop(),
            Running::Sluice(mut child) => {
                // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                child.wait().unwrap();
            }
        }
    }
}

fn start_sluice(broker: &Broker, root: &Path, input: &str, output: &str) -> Child {
    let dir = tempfile::tempdir().unwrap().keep();
    let config = dir.join("sluice.toml");
    let brokers = &broker.address;
    let plugins = root.join("target/plugins");
    std::fs::write(
        &config,
        format!(
            r#"
[host]
plugins_dir = "{plugins}"
data_dir = "{data}"
status_interval = "60s"

[sources.in]
type = "kafka"
brokers = "{brokers}"
group = "{input}"
topics = ["{input}"]
properties = {{ "fetch.wait.max.ms" = "{FETCH_WAIT_MS}" }}

[sinks.out]
type = "kafka"
brokers = "{brokers}"
topic = "{output}"

[sinks.rejected]
type = "null"

[pipelines.bench]
source = "in"
plugins = [{{ name = "passthrough" }}]
routes = {{ out = ["out"] }}
default_route = "out"
dead_letter = "rejected"
batch_wait = "10ms"
"#,
            plugins = plugins.display(),
            data = dir.join("data").display(),
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "-c"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sluice")
}

/// How the plain passthrough reads the input.
#[derive(Clone, Copy)]
enum Reading {
    /// One consumer in a group, on one thread: what a Kafka client usually is.
    Group,
    /// One consumer, each partition split into a queue of its own, the queues dealt out
    /// to this many threads: the way Sluice reads, without anything else Sluice does.
    Split(usize),
}

impl Reading {
    /// One reader per thread.
    fn readers(self, broker: &Broker, input: &str) -> Vec<Reader> {
        let consumer: BaseConsumer = consumer_config(broker, input).create().unwrap();
        match self {
            Reading::Group => {
                consumer.subscribe(&[input]).unwrap();
                vec![Reader::Group(consumer)]
            }
            Reading::Split(threads) => {
                // Partitions assigned by hand: no group to wait for, and no rebalance.
                let mut partitions = TopicPartitionList::new();
                for partition in 0..PARTITIONS {
                    partitions.add_partition_offset(input, partition, Offset::Beginning).unwrap();
                }
                consumer.assign(&partitions).unwrap();
                let consumer = Arc::new(consumer);
                let mut readers: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
                for partition in 0..PARTITIONS {
                    let queue = consumer.split_partition_queue(input, partition).unwrap();
                    readers[partition as usize % threads].push(queue);
                }
                readers.into_iter().map(Reader::Queues).collect()
            }
        }
    }
}

/// What one thread of the plain passthrough reads from.
enum Reader {
    Group(BaseConsumer),
    Queues(Vec<PartitionQueue<DefaultConsumerContext>>),
}

impl Reader {
    /// Hands what arrived to `pass`, after a short wait if nothing had.
    fn read(&self, mut pass: impl FnMut(&BorrowedMessage<'_>)) {
        match self {
            Reader::Group(consumer) => {
                if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
                    pass(&message);
                }
            }
            Reader::Queues(queues) => {
                let mut idle = true;
                for queue in queues {
                    if let Some(Ok(message)) = queue.poll(Duration::ZERO) {
                        pass(&message);
                        idle = false;
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
}

/// The ceiling: consume, produce the same key, value, headers and timestamp, with the
/// producer settings Sluice's Kafka sink uses, and nothing else.
struct PlainPassthrough {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    producer: Arc<CountingProducer>,
}

impl PlainPassthrough {
    fn start(broker: &Broker, input: &str, output: &str, reading: Reading) -> PlainPassthrough {
        let producer = Arc::new(Deliveries::producer(broker));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = reading
            .readers(broker, input)
            .into_iter()
            .map(|reader| {
                let (stop, producer, output) = (stop.clone(), producer.clone(), output.to_owned());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        reader.read(|message| {
                            let mut record = BaseRecord::<[u8], [u8]>::to(&output);
                            if let Some(key) = message.key() {
                                record = record.key(key);
                            }
                            if let Some(value) = message.payload() {
                                record = record.payload(value);
                            }
                            if let Some(headers) = message.headers() {
                                record = record.headers(headers.detach());
                            }
                            if let Some(timestamp) = message.timestamp().to_millis() {
                                record = record.timestamp(timestamp);
                            }
                            send(&producer, record);
                        });
                    }
                })
            })
            .collect();
        PlainPassthrough { stop, threads, producer }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        self.producer.flush(Duration::from_secs(30)).unwrap();
        self.producer.context().report("plain passthrough");
    }
}

/// Consumer settings for the contenders and the latency reader. The broker answers a fetch
/// with no new records only after `fetch.wait.max.ms`; librdkafka's default (500 ms)
/// would hide everything else in the latency numbers.
fn consumer_config(broker: &Broker, group: &str) -> ClientConfig {
    let mut config = broker.client();
    config
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("queued.max.messages.kbytes", "16384")
        .set("fetch.wait.max.ms", FETCH_WAIT_MS);
    config
}

/// Counts delivery reports, so that a record the broker refused is not mistaken for one
/// the contender lost.
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// Delivery reports are served by librdkafka's own background thread, so that the loops
/// that produce do nothing but produce.
type CountingProducer = ThreadedProducer<Deliveries>;

impl Deliveries {
    /// A producer with the settings Sluice's Kafka sink uses by default.
    fn producer(broker: &Broker) -> CountingProducer {
        broker
            .client()
            .set("enable.idempotence", "true")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("batch.size", "1048576")
            .create_with_context(Deliveries::default())
            .unwrap()
    }

    /// Prints what failed, and returns how many records were delivered.
    fn report(&self, producer: &str) -> u64 {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed > 0 {
            let error = self.first_error.lock().unwrap();
            eprintln!(
                "{producer}: {failed} records not delivered, the first because: {}",
                error.as_deref().unwrap_or("?")
            );
        }
        self.delivered.load(Ordering::Relaxed)
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err((error, _)) => {
                self.first_error.lock().unwrap().get_or_insert_with(|| error.to_string());
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

fn send(producer: &CountingProducer, mut record: BaseRecord<'_, [u8], [u8]>) {
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, returned)) => {
                record = returned;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Counts the records in a topic, from its partitions' end offsets.
struct RecordsIn(BaseConsumer);

impl RecordsIn {
    fn count(&self, topic: &str) -> u64 {
        (0..PARTITIONS).map(|p| self.0.fetch_watermarks(topic, p, Duration::from_secs(5)).unwrap().1 as u64).sum()
    }
}

/// Apache Kafka started by `scripts/kafka-broker run` (data under `target/kafka/bench`,
/// emptied first), stopped when dropped.
struct Broker {
    address: String,
    child: Option<Child>,
}

impl Broker {
    fn start(root: &Path) -> Broker {
        let dir = root.join("target/kafka/bench");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Three consecutive free ports: PLAINTEXT, controller, SASL.
        let port = loop {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if port < u16::MAX - 2 && (1..=2).all(|i| TcpListener::bind(("127.0.0.1", port + i)).is_ok()) {
                break port;
            }
        };
        let log = std::fs::File::create(dir.join("broker.log")).unwrap();
        let child = Command::new(root.join("scripts/kafka-broker"))
            .arg("run")
            .arg(port.to_string())
            .arg(&dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run scripts/kafka-broker");
        let broker = Broker { address: format!("127.0.0.1:{port}"), child: Some(child) };
        let probe: BaseConsumer = broker.client().set("log_level", "0").create().unwrap();
        let start = Instant::now();
        while probe.fetch_metadata(None, Duration::from_millis(500)).map_or(true, |m| m.brokers().is_empty()) {
            assert!(start.elapsed() < Duration::from_secs(120), "Kafka did not answer; see {}", dir.display());
        }
        broker
    }

    /// A handle on a broker someone else runs.
    fn at(address: String) -> Broker {
        Broker { address, child: None }
    }

    fn records_in(&self) -> RecordsIn {
        RecordsIn(self.client().set("group.id", "bench-watermarks").create().unwrap())
    }

    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.address);
        config
    }

    fn create_topics(&self, names: &[&str]) {
        let admin: AdminClient<DefaultClientContext> = self.client().create().unwrap();
        let topics: Vec<NewTopic> =
            names.iter().map(|n| NewTopic::new(n, PARTITIONS, TopicReplication::Fixed(1))).collect();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for result in runtime.block_on(admin.create_topics(&topics, &AdminOptions::new())).unwrap() {
            result.unwrap_or_else(|(topic, e)| panic!("cannot create topic {topic}: {e}"));
        }
    }

    /// Produces `count` keyed records, as fast as possible or at `rate` per second, each
    /// stamped with its send time; returns how many the broker acknowledged.
    fn produce(&self, topic: &str, count: u64, rate: Option<u64>) -> u64 {
        let producer = Deliveries::producer(self);
        let records_in = self.records_in();
        let before = records_in.count(topic);
        let value = [b'x'; VALUE_BYTES];
        let start = Instant::now();
        for i in 0..count {
            if let Some(rate) = rate {
                let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            let key = format!("key-{:012}", i % 10_000);
            let record = BaseRecord::to(topic).key(key.as_bytes()).payload(&value[..]).timestamp(now_millis());
            send(&producer, record);
        }
        producer.flush(Duration::from_secs(60)).unwrap();
        let delivered = producer.context().report(&format!("producing to {topic}"));
        let stored = records_in.count(topic) - before;
        if stored != delivered {
            eprintln!("{topic}: the broker acknowledged {delivered} records but holds {stored} more than before");
        }
        delivered
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
