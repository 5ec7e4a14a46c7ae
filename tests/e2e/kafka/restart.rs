//! The broker goes away mid-stream and comes back: the host reconnects on its own and
//! every record still arrives.
//!
//! On a Kafka of the test's own, stopped cleanly and started again on the same port with
//! the same data, as an operator's restart does.

use std::time::Duration;

use super::*;
use crate::harness::*;

#[test]
fn a_broker_restart_mid_stream_loses_nothing() {
    let mut broker = Broker::own_kafka().with_pipeline_topics(3);
    const N: u64 = 40_000;
    broker.produce("in", keyed_events(N / 2, 0));

    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(kafka_pipeline(&broker, "restart-test", ""));
    let mut running = scratch.start();
    running.wait_for_log("partition assigned", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));

    // Down for longer than a few reconnect attempts, shorter than the producer's
    // delivery timeout (30 s) and the consumer's session timeout (45 s).
    broker.restart(Duration::from_secs(5));
    broker.produce("in", keyed_events(N, 0).skip((N / 2) as usize));

    let out = broker.consume("out", N as usize, Duration::from_secs(120));
    let (counts, by_key) = ids_by_key(&out);
    assert_none_missing(&counts, N, &running.log());
    assert_first_arrivals_in_order(by_key);
    eprintln!("broker restart: {N} records, {} duplicates", duplicates(&counts));
    assert!(running.log().contains("librdkafka"), "the outage was noticed and logged:\n{}", running.log());
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
}
