//! Scale-out: hosts with the same group share the partitions, and when one stops the
//! others take its partitions over from the offsets it committed while draining; when one
//! dies, from the offsets it last committed.

use std::time::Duration;

use super::*;
use crate::harness::*;

/// Settings that let a group notice a lost member within seconds rather than 45.
const GROUP_SETTINGS: &str = "properties = { \"session.timeout.ms\" = 6000, \"heartbeat.interval.ms\" = 500, \"max.poll.interval.ms\" = 8000 }\ndrain_timeout = \"3s\"";

/// A host of `group`'s pipeline, not started yet.
fn member(broker: &Broker, group: &str) -> Scratch {
    let host = Scratch::with_plugins(&["json-validate"]);
    host.config(kafka_pipeline(broker, group, GROUP_SETTINGS));
    host
}

/// Starts the first host, then the second, and returns once both own partitions.
fn start_both([first, second]: &[Scratch; 2]) -> (Running, Running) {
    let a = first.start();
    a.wait_for_log("partition assigned", Duration::from_secs(30));
    let b = second.start();
    // The second owns partitions once the group has rebalanced.
    b.wait_for_log("partition assigned", Duration::from_secs(60));
    (a, b)
}

#[test]
fn a_host_that_stops_hands_its_partitions_over_with_nothing_lost_or_repeated() {
    let broker = Broker::kafka().with_pipeline_topics(4);
    const N: u64 = 40_000;

    let hosts = [member(&broker, "fleet"), member(&broker, "fleet")];
    let (mut a, b) = start_both(&hosts);
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

/// The group coordinator evicts the dead member once its session times out (6 s here).
#[test]
fn a_host_killed_mid_stream_has_its_partitions_taken_over_with_nothing_lost() {
    let broker = Broker::kafka().with_pipeline_topics(4);
    const N: u64 = 40_000;

    let hosts = [member(&broker, "fleet-kill"), member(&broker, "fleet-kill")];
    let (mut a, b) = start_both(&hosts);
    let assigned_before = b.log().matches("partition assigned").count();
    assert!(assigned_before < 4, "the second host shares the partitions:\n{}", b.log());
    // Records keep coming in slices, and the first host dies in the middle of them.
    const SLICES: u64 = 40;
    for slice in 0..SLICES {
        let records = keyed_events(N, 0).skip((slice * N / SLICES) as usize).take((N / SLICES) as usize);
        broker.produce("in", records);
        std::thread::sleep(Duration::from_millis(50));
        if slice == SLICES / 2 {
            a.kill();
        }
    }

    let out = broker.consume("out", N as usize, Duration::from_secs(120));
    let (counts, by_key) = ids_by_key(&out);
    assert_none_missing(&counts, N, &b.log());
    eprintln!("{N} records, {} duplicates after the kill", duplicates(&counts));
    assert_first_arrivals_in_order(by_key);
    let log = b.log();
    assert!(
        log.matches("partition assigned").count() > assigned_before,
        "the survivor took the dead host's partitions over:\n{log}"
    );
}
