//! Exactly-once pipelines: records and the source's offsets go through transactions end
//! to end (on Apache Kafka), an instance whose transaction is fenced stops with nothing
//! lost (on librdkafka's mock cluster, which answers EndTxn with the fencing error on
//! demand), and a zombie frozen until its partitions moved commits nothing when thawed (on
//! Apache Kafka). What SIGKILLs do to them is in `crash.rs`.

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

/// A zombie: a host frozen (SIGSTOP) past its session while records flow, so that its
/// partitions go to the other host while its transaction is still open, then thawed
/// (SIGCONT). The offsets it would commit carry the group generation it lost, so the
/// broker refuses its transaction, and a `read_committed` reader finds every record once.
#[test]
fn a_host_frozen_until_its_partitions_moved_cannot_commit_when_thawed() {
    let broker = Broker::kafka().with_pipeline_topics(4);
    const N: u64 = 20_000;
    let settings =
        "properties = { \"session.timeout.ms\" = 6000, \"heartbeat.interval.ms\" = 500 }\ndrain_timeout = \"3s\"";
    // The zombie commits every second, so that it is all but sure to be frozen with a
    // transaction open.
    let [steady, zombie] = [("steady", "50ms"), ("zombie", "1s")].map(|(id, interval)| {
        let host = Scratch::with_plugins(&["json-validate"]);
        let config = exactly_once(kafka_pipeline(&broker, "zombie", settings), &broker.group(id));
        host.config(
            config.replace("transaction_interval = \"50ms\"", &format!("transaction_interval = \"{interval}\"")),
        );
        host
    });
    let steady = steady.start();
    steady.wait_for_log("partition assigned", Duration::from_secs(60));
    let zombie = zombie.start();
    zombie.wait_for_log("partition assigned", Duration::from_secs(60));
    let assigned = |log: String| log.matches("partition assigned").count();
    let steady_before = assigned(steady.log());

    // Records keep arriving for about eight seconds around the freeze.
    let (address, topic) = (broker.address(), broker.topic("in"));
    let feeder = std::thread::spawn(move || {
        for piece in 0..200 {
            produce_to(&address, &topic, keyed_events(N, 0).skip((piece * N / 200) as usize).take((N / 200) as usize));
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    eventually(Duration::from_secs(30), "outputs written", || {
        !broker.consume_as("out", "read_uncommitted", 1, Duration::from_millis(200)).is_empty()
    });
    zombie.signal(libc::SIGSTOP);
    eventually(Duration::from_secs(60), "the steady host taking the frozen host's partitions", || {
        assigned(steady.log()) > steady_before
    });
    zombie.signal(libc::SIGCONT);
    feeder.join().unwrap();

    let out = broker.consume("out", N as usize, Duration::from_secs(120));
    let (counts, by_key) = ids_by_key(&out);
    let log = format!("steady:\n{}\nzombie:\n{}", steady.log(), zombie.log());
    assert_none_missing(&counts, N, &log);
    assert_eq!(duplicates(&counts), 0, "the zombie's transaction never became visible\n{log}");
    assert_first_arrivals_in_order(by_key);
    let uncommitted = broker.consume_as("out", "read_uncommitted", N as usize, Duration::from_secs(60));
    eprintln!("{} records of aborted transactions, seen read_uncommitted", uncommitted.len() - out.len());
}

/// A dead-letter sink stuck on a full disk (every file the host writes is limited in
/// size) for longer than the transaction timeout: the exactly-once pipeline waits instead
/// of failing. Its sink aborts the open transaction before the broker would and, once
/// the disk has room again, writes the records again and commits: every record once in
/// the output, every dead letter in the file, and the host never stopped.
#[test]
fn a_dead_letter_sink_stuck_past_the_transaction_timeout_slows_the_pipeline_down_instead_of_failing_it() {
    const N: u64 = 2_000;
    const INVALID_EVERY: u64 = 50;
    let broker = Broker::kafka();
    broker.create_topic("in", 2);
    broker.create_topic("out", 2);
    let scratch = Scratch::with_plugins(&["json-validate"]);
    let source = broker.source_table("stuck-dlq", "in");
    let out = format!(
        "{}\ndelivery_timeout = \"5s\"\nproperties = {{ \"transaction.timeout.ms\" = 6000 }}",
        broker.sink_table("out")
    );
    let pipeline = format!(
        "default_route = \"out\"\ndelivery = \"exactly-once\"\ntransactional_id = \"{}\"\ntransaction_interval = \"50ms\"",
        broker.group("stuck-dlq")
    );
    let plugins = r#"[{ name = "json-validate", config = { require = "id" } }]"#;
    scratch.config(one_pipeline(&source, plugins, &out, &pipeline));

    let mut running = scratch.start();
    running.wait_for_log("partition assigned", Duration::from_secs(60));
    // From now on every file the host writes is limited, as on a full disk (set once it
    // runs: Wasmtime sizes its memory images as files too). About a dozen dead letters
    // fit; there are forty.
    set_file_size_limit(&running, 4096);
    broker.produce("in", keyed_events(N, INVALID_EVERY));
    running.wait_for_log("sink write failed; retrying", Duration::from_secs(60));
    running.wait_for_log("aborting the transaction before the broker does", Duration::from_secs(60));
    // The disk has room again.
    set_file_size_limit(&running, libc::RLIM_INFINITY);

    let valid = N - N / INVALID_EVERY;
    let delivered = broker.consume("out", valid as usize, Duration::from_secs(120));
    let (counts, by_key) = ids_by_key(&delivered);
    let log = running.log();
    assert_eq!(counts.len() as u64, valid, "every valid record delivered\n{log}");
    assert_eq!(duplicates(&counts), 0, "none twice under read_committed\n{log}");
    assert_first_arrivals_in_order(by_key);
    running.eventually(Duration::from_secs(60), "every dead letter in the file", || {
        scratch.read_envelopes("out/dlq.jsonl").len() as u64 >= N / INVALID_EVERY
    });
    assert!(log.contains("writing the aborted transaction's records again"), "{log}");
    assert!(!log.contains("the transaction failed"), "the pipeline never failed:\n{log}");
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
}

/// Sets the running host's RLIMIT_FSIZE.
fn set_file_size_limit(running: &Running, bytes: u64) {
    let limit = libc::rlimit { rlim_cur: bytes, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: prlimit(2) on our own child, with a valid rlimit and no old-limit pointer.
    let rc = unsafe { libc::prlimit(running.child.id() as i32, libc::RLIMIT_FSIZE, &limit, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}
