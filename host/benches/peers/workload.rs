//! The records every contender transforms: keyed JSON log events of about 200 bytes with two
//! headers, a quarter of them at level `debug` (which the transform drops), each carrying
//! its send time in `ts` so that latency is measured from the value, whatever a contender
//! does with record timestamps.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::ClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::broker::Broker;

const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// How many of the records with ids `0..count` the transform keeps (all but `debug`).
pub fn kept(count: u64) -> u64 {
    count - count.div_ceil(4)
}

/// Event `i` as JSON, with the time now in `ts`.
pub fn event(i: u64) -> String {
    format!(
        r#"{{"id":{i},"ts":{},"level":"{}","service":"checkout","host":"web-{:02}","user":"user-{:06}","message":"GET /api/v1/orders/{i} answered 200 after {} ms","region":"eu-west-1"}}"#,
        now_millis(),
        LEVELS[(i % 4) as usize],
        i % 16,
        i % 10_000,
        i % 97
    )
}

pub fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Produces `count` records (ids from `first`) into `topic`, as fast as possible or at
/// `rate` per second; panics unless the broker acknowledged every one.
pub fn produce(broker: &Broker, topic: &str, first: u64, count: u64, rate: Option<u64>) {
    let producer: ThreadedProducer<Deliveries> = broker
        .client()
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("batch.size", "1048576")
        .create_with_context(Deliveries::default())
        .unwrap();
    let start = Instant::now();
    for i in first..first + count {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64((i - first) as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let (key, value, trace) =
            (format!("user-{:06}", i % 10_000), event(i), format!("{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let headers = OwnedHeaders::new()
            .insert(Header { key: "trace-id", value: Some(&trace) })
            .insert(Header { key: "content-type", value: Some("application/json") });
        let mut record = BaseRecord::to(topic).key(&key).payload(&value).headers(headers);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let failed = producer.context().failed.load(Ordering::Relaxed);
    assert_eq!(
        failed,
        0,
        "{failed} records not delivered to {topic}: {:?}",
        producer.context().first_error.lock().unwrap()
    );
}

#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.first_error.lock().unwrap().get_or_insert_with(|| error.to_string());
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
