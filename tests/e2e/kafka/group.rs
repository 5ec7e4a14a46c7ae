//! Scale-out: hosts with the same group share the partitions, and when one stops the
//! others take its partitions over from the offsets it committed while draining.

use std::time::Duration;

use super::*;
use crate::harness::*;

#[test]
fn a_host_that_stops_hands_its_partitions_over_with_nothing_lost_or_repeated() {
    let broker = Broker::start().with_pipeline_topics(4);
    const N: u64 = 40_000;

    let group_settings = "properties = { \"session.timeout.ms\" = 6000, \"heartbeat.interval.ms\" = 500, \"max.poll.interval.ms\" = 8000 }\ndrain_timeout = \"3s\"";
    let first = Scratch::with_plugins(&["json-validate"]);
    first.config(kafka_pipeline(&broker, "fleet", group_settings));
    let second = Scratch::with_plugins(&["json-validate"]);
    second.config(kafka_pipeline(&broker, "fleet", group_settings));

    let mut a = first.start();
    a.wait_for_log("partition assigned", Duration::from_secs(30));
    let b = second.start();
    // Both members own partitions once the group has rebalanced.
    b.wait_for_log("partition assigned", Duration::from_secs(60));
    broker.produce("in", keyed_events(N / 2, 0));
    std::thread::sleep(Duration::from_millis(500));
    a.signal(libc::SIGTERM);
    assert_eq!(a.wait(Duration::from_secs(30)), Some(0), "{}", a.log());
    broker.produce("in", keyed_events(N, 0).skip((N / 2) as usize));

    let out = broker.consume("out", N as usize, Duration::from_secs(120));
    let (counts, _) = ids_by_key(&out);
    assert_none_missing(&counts, N, &b.log());
    assert_eq!(duplicates(&counts), 0, "revoked partitions are drained and committed before they are released");
    let log = b.log();
    assert!(log.matches("partition assigned").count() > 2, "the survivor took more partitions over:\n{log}");
}
