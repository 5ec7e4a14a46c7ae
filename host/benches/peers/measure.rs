//! What is measured of each contender: throughput on a backlog, then latency at a fixed
//! rate, while it runs.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::broker::Broker;
use crate::peer::Running;
use crate::workload::{self, kept, now_millis};
use crate::{LATENCY_RATE, LATENCY_SECONDS, PARTITIONS};

pub struct Throughput {
    /// Input records per second.
    pub rate: f64,
    /// CPU seconds the contender spent per million input records.
    pub cpu_per_million: f64,
}

/// Throughput on `records` waiting in the input, from when 1% of the expected output is
/// there until all of it is, so that start-up (compiling plugins, a JVM warming up,
/// joining the group) is left out for every contender. The rate counts input records:
/// output records divided by the share the transform keeps.
pub fn throughput(broker: &Broker, running: &mut Running, output: &str, records: u64) -> Throughput {
    let expected = kept(records);
    let per_output = records as f64 / expected as f64;
    let records_in = broker.records_in();
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut started = None;
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        let done = records_in.count(output);
        let now = Instant::now();
        if started.is_none() && done >= expected / 100 {
            started = Some((now, done, running.cpu_seconds()));
        }
        if done != last {
            (last, last_change) = (done, now);
        }
        if let Some((at, from, cpu)) = started {
            let stalled = now - last_change > Duration::from_secs(10);
            if done >= expected || stalled {
                if done != expected {
                    eprintln!("  {done} of {expected} expected records in the output");
                }
                let input = (done - from) as f64 * per_output;
                return Throughput {
                    rate: input / (last_change - at).as_secs_f64(),
                    cpu_per_million: (running.cpu_seconds() - cpu) * 1e6 / input,
                };
            }
        }
        running.assert_alive();
        assert!(now < deadline, "only {done} of {expected} records arrived in 15 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// p50 and p99 of send-to-arrival time, in milliseconds, at `LATENCY_RATE` records/s
/// for `LATENCY_SECONDS`, taken from each output value's `ts` (its send time).
pub fn latency(broker: &Broker, input: &str, output: &str, first_id: u64) -> (f64, f64) {
    let reader: BaseConsumer =
        broker.client().set("group.id", "bench-latency").set("fetch.wait.max.ms", "10").create().unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment.add_partition_offset(output, p, Offset::End).unwrap();
    }
    reader.assign(&assignment).unwrap();
    // The reader's first fetches go out before anything new is sent.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(2) {
        reader.poll(Duration::from_millis(100));
    }
    let sent = LATENCY_RATE * LATENCY_SECONDS;
    let expected = kept(first_id + sent) - kept(first_id);
    let sender = {
        let (broker, input) = (broker.address.clone(), input.to_owned());
        std::thread::spawn(move || workload::produce(&Broker::at(broker), &input, first_id, sent, Some(LATENCY_RATE)))
    };
    let mut latencies = Vec::with_capacity(expected as usize);
    let deadline = Instant::now() + Duration::from_secs(LATENCY_SECONDS + 60);
    let mut last_arrival = Instant::now();
    while (latencies.len() as u64) < expected
        && Instant::now() < deadline
        && !(sender.is_finished() && last_arrival.elapsed() > Duration::from_secs(5))
    {
        let Some(Ok(message)) = reader.poll(Duration::from_millis(100)) else { continue };
        let arrived = now_millis();
        let value: serde_json::Value =
            serde_json::from_slice(message.payload().unwrap_or_default()).expect("JSON output");
        let id = value["id"].as_u64().expect("an id");
        if id >= first_id {
            latencies.push((arrived - value["ts"].as_i64().expect("a ts")) as f64);
            last_arrival = Instant::now();
        }
    }
    sender.join().unwrap();
    assert!(
        latencies.len() as u64 >= expected * 9 / 10,
        "only {} of {expected} latency probes arrived",
        latencies.len()
    );
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    (at(0.50), at(0.99))
}
