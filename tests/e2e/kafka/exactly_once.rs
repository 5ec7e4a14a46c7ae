//! Exactly-once pipelines: records and the source's offsets go through transactions end
//! to end (on Apache Kafka), and an instance whose transaction is fenced stops with nothing
//! lost (on librdkafka's mock cluster, which answers EndTxn with the fencing error on
//! demand). What SIGKILLs do to them is in `crash.rs`.

use std::time::Duration;

use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use super::*;
use crate::harness::*;

#[test]
fn an_exactly_once_pipeline_delivers_every_record_once_through_transactions() {
    let broker = Broker::kafka().with_pipeline_topics(3);
    const N: u64 = 20_000;
    broker.produce("in", keyed_events(N, 100));

    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(exactly_once(kafka_pipeline(&broker, "eos", ""), &broker.group("eos-delivers")));
    let mut running = scratch.start();
    let out = broker.consume("out", (N - N / 100) as usize, Duration::from_secs(120));
    let (counts, by_key) = ids_by_key(&out);
    let missing: Vec<u64> = (0..N).filter(|id| id % 100 != 99 && !counts.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} records missing, e.g. {:?}\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        running.log()
    );
    assert_eq!(duplicates(&counts), 0, "a clean run duplicates nothing");
    assert_first_arrivals_in_order(by_key);
    let dead = broker.consume("dlq", (N / 100) as usize, Duration::from_secs(30));
    assert_eq!(dead.len(), (N / 100) as usize, "the dead-letter sink stays at-least-once and gets every reject");

    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
    let log = running.log();
    assert!(log.contains("exactly-once: records and source offsets are committed in transactions"), "{log}");
    assert!(!log.contains("transaction failed"), "{log}");
}

#[test]
fn a_fenced_instance_stops_and_its_successor_loses_nothing() {
    let broker = Broker::mock().with_pipeline_topics(2);
    const N: u64 = 10_000;
    broker.produce("in", keyed_events(N / 2, 0));

    let scratch = Scratch::with_plugins(&["json-validate"]);
    // A short session: after any member leaves, even cleanly, MockCluster's group waits
    // `session.timeout.ms` − 1 s before it rebalances (`rd_kafka_mock_cgrp_classic_rebalance`),
    // so with the default the successor would wait 44 s for its partitions.
    let source = "properties = { \"session.timeout.ms\" = 6000 }\ndrain_timeout = \"3s\"";
    scratch.config(exactly_once(kafka_pipeline(&broker, "eos-fenced", source), &broker.group("eos-fenced")));
    let mut zombie = scratch.start();
    zombie.wait_for_log("partition assigned", Duration::from_secs(60));
    // What a broker answers an instance whose transactional id another has taken over.
    broker.fail_requests(RDKafkaApiKey::EndTxn, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED; 3]);
    broker.produce("in", keyed_events(N, 0).skip((N / 2) as usize));

    let code = zombie.wait(Duration::from_secs(60));
    let log = zombie.log();
    assert!(matches!(code, Some(c) if c != 0), "the fenced instance stops with an error:\n{log}");
    assert!(log.contains("the transaction failed") && log.contains("fenced"), "it says why:\n{log}");

    broker.clear_failures(RDKafkaApiKey::EndTxn);
    let mut successor = scratch.start();
    let out = broker.consume("out", N as usize, Duration::from_secs(120));
    let (counts, _) = ids_by_key(&out);
    assert_none_missing(&counts, N, &successor.log());
    successor.signal(libc::SIGTERM);
    assert_eq!(successor.wait(Duration::from_secs(30)), Some(0), "{}", successor.log());
}
