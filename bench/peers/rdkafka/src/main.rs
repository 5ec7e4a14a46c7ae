//! The ceiling Sluice is measured against: the benchmark's transform run natively between a
//! plain rdkafka consumer and producer, with no Wasm, no batching into plugin calls and no
//! acknowledgement tracking. It reads the way Sluice does: the input's partitions split into
//! queues of their own, dealt out to `BENCH_THREADS` threads (default 2, one per core), each
//! producing as it goes into one shared producer that batches and pipelines (Sluice's Kafka
//! sink settings). Offsets are auto-committed, so it promises less than Sluice: a crash can
//! lose what was committed before it was produced, and it always starts at the beginning.
//!
//! Environment: `BENCH_BROKERS`, `BENCH_INPUT`, `BENCH_OUTPUT`, `BENCH_GROUP`; runs until
//! SIGTERM, then flushes the producer and exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn main() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe, and it is
    // installed before any other thread exists.
    unsafe { libc::signal(libc::SIGTERM, on_sigterm as *const () as libc::sighandler_t) };
    let (brokers, input, output, group) =
        (env("BENCH_BROKERS"), env("BENCH_INPUT"), env("BENCH_OUTPUT"), env("BENCH_GROUP"));
    let threads: usize = std::env::var("BENCH_THREADS").map_or(2, |t| t.parse().expect("BENCH_THREADS"));

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer");
    let partitions = consumer.fetch_metadata(Some(&input), Duration::from_secs(10)).expect("metadata").topics()[0]
        .partitions()
        .len() as i32;
    // Partitions assigned by hand, from the beginning: no group to wait for, no rebalance
    // and no committed offsets to fetch; the group id is used for offset commits only.
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(&input, partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let consumer = Arc::new(consumer);
    let producer: Arc<ThreadedProducer<Deliveries>> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("enable.idempotence", "true")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("batch.size", "1048576")
            .create_with_context(Deliveries::default())
            .expect("producer"),
    );

    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let queues: Vec<_> = (0..partitions)
                .filter(|p| *p as usize % threads == thread)
                .map(|p| consumer.split_partition_queue(&input, p).expect("partition queue"))
                .collect();
            let (producer, output) = (producer.clone(), output.clone());
            std::thread::spawn(move || {
                while !STOP.load(Ordering::Relaxed) {
                    let mut idle = true;
                    for queue in &queues {
                        let Some(Ok(message)) = queue.poll(Duration::ZERO) else { continue };
                        idle = false;
                        let Ok(Some(value)) = bench_transform::transform(message.payload().unwrap_or_default()) else {
                            continue;
                        };
                        let mut record = BaseRecord::<[u8], [u8]>::to(&output).payload(&value);
                        if let Some(key) = message.key() {
                            record = record.key(key);
                        }
                        if let Some(headers) = message.headers() {
                            record = record.headers(headers.detach());
                        }
                        if let Some(timestamp) = message.timestamp().to_millis() {
                            record = record.timestamp(timestamp);
                        }
                        send(&producer, record);
                    }
                    if idle {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    // The consumer's own queue still carries its events (errors, commits): serve them.
    while !STOP.load(Ordering::Relaxed) {
        if let Some(Err(error)) = consumer.poll(Duration::from_millis(100)) {
            eprintln!("bench-rdkafka: {error}");
        }
    }
    for worker in workers {
        worker.join().unwrap();
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("bench-rdkafka: {failed} records not delivered");
        std::process::exit(1);
    }
}

/// Sends `record`, waiting while the producer's queue is full.
fn send(producer: &ThreadedProducer<Deliveries>, mut record: BaseRecord<'_, [u8], [u8]>) {
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

/// Counts failed deliveries, so that a run that lost records says so.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
