//! Topics deleted under a running pipeline: the host keeps running and says why; what it
//! can no longer write is dead-lettered with the broker's reason, never dropped.

use std::time::Duration;

use super::*;
use crate::harness::*;

#[test]
fn records_for_a_deleted_output_topic_are_dead_lettered_and_the_host_runs_on() {
    let broker = Broker::kafka().with_pipeline_topics(2);
    const N: u64 = 1_000;
    broker.produce("in", keyed_events(N, 0));
    let scratch = Scratch::with_plugins(&["json-validate"]);
    let config = kafka_pipeline(&broker, "deleted-out", "");
    // How long the producer waits for a topic it does not know to appear (30 s by default).
    let out = format!("topic = \"{}\"\n", broker.topic("out"));
    scratch.config(config.replacen(
        &out,
        &format!("{out}properties = {{ \"topic.metadata.propagation.max.ms\" = 2000 }}\n"),
        1,
    ));
    let mut running = scratch.start();
    let first = broker.consume("out", N as usize, Duration::from_secs(60));
    assert_eq!(ids_by_key(&first).0.len(), N as usize, "{}", running.log());

    broker.delete_topic("out");
    broker.produce("in", keyed_events(2 * N, 0).skip(N as usize));
    let dead = broker.consume("dlq", N as usize, Duration::from_secs(120));
    let (counts, _) = ids_by_key(&dead);
    assert!(
        (N..2 * N).all(|id| counts.contains_key(&id)),
        "{} of {N} in the dead-letter topic\n{}",
        counts.len(),
        running.log()
    );
    for record in &dead {
        assert_eq!(record.header("sluice.sink"), Some("out"));
        let reason = record.header("sluice.error").unwrap();
        assert!(reason.contains("Unknown topic"), "the broker's reason: {reason}");
    }
    assert_eq!(running.child.try_wait().unwrap(), None, "the host runs on:\n{}", running.log());
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
}

#[test]
fn a_deleted_input_topic_is_reported_while_the_host_runs_on_and_stops_cleanly() {
    let broker = Broker::kafka().with_pipeline_topics(2);
    const N: u64 = 1_000;
    broker.produce("in", keyed_events(N, 0));
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(kafka_pipeline(&broker, "deleted-in", ""));
    let mut running = scratch.start();
    let out = broker.consume("out", N as usize, Duration::from_secs(60));
    assert_eq!(ids_by_key(&out).0.len(), N as usize, "{}", running.log());

    broker.delete_topic("in");
    // The partitions stay assigned (the group's subscription names the topic); librdkafka
    // notices at its next metadata refresh and each fetch says why.
    running.wait_for_log("topic does not exist (Broker: Unknown topic or partition)", Duration::from_secs(120));
    let log = running.log();
    assert!(
        log.lines().any(|l| l.contains("kafka fetch error") && l.contains(&broker.topic("in"))),
        "the host says which topic:\n{log}"
    );
    assert_eq!(running.child.try_wait().unwrap(), None, "the host runs on:\n{log}");
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
}
