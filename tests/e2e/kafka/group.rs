//! Scale-out: hosts with the same group share the partitions, and when one stops the
//! others take its partitions over from the offsets it committed while draining; when one
//! dies, from the offsets it last committed. Hosts join and leave under load with each of
//! the group protocols: classic eager, classic cooperative-sticky and KIP-848's consumer
//! protocol.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;
use crate::harness::*;

/// Settings that let a group notice a lost member within seconds rather than 45.
const GROUP_SETTINGS: &str = "properties = { \"session.timeout.ms\" = 6000, \"heartbeat.interval.ms\" = 500, \"max.poll.interval.ms\" = 8000 }\ndrain_timeout = \"3s\"";

/// A host of `group`'s pipeline, not started yet.
fn member(broker: &Broker, group: &str) -> Scratch {
    member_with(broker, group, GROUP_SETTINGS)
}

/// A host of `group`'s pipeline with the source settings `settings`, not started yet.
fn member_with(broker: &Broker, group: &str, settings: &str) -> Scratch {
    let host = Scratch::with_plugins(&["json-validate"]);
    host.config(kafka_pipeline(broker, group, settings));
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

/// Feeds topic `in` with keyed events, a slice at a time, until stopped: the load that
/// keeps flowing while hosts join and leave.
struct Feeder {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Feeder {
    fn start(broker: &Broker) -> Feeder {
        const SLICE: u64 = 500;
        let (address, topic) = (broker.address(), broker.topic("in"));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut next = 0;
            while !stopped.load(Ordering::Relaxed) {
                produce_to(&address, &topic, keyed_events_in(next..next + SLICE, 0));
                next += SLICE;
                // Paces the load (about 10 000 records/s); nothing waits on it.
                std::thread::sleep(Duration::from_millis(40));
            }
            next
        });
        Feeder { stop, thread }
    }

    /// Stops feeding and returns how many records were produced (ids 0 to that, exclusive).
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the feeder")
    }
}

/// How many partitions each of a host's revocations took from it, in order.
fn revocations(log: &str) -> Vec<usize> {
    log.lines()
        .filter(|line| line.contains("partitions revoked"))
        .filter_map(|line| line.split("partitions=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Three hosts of one group on six partitions: A starts, B joins, C joins, A leaves, B
/// leaves, while records keep arriving. With an incremental protocol each change moves
/// only the partitions that change owner (A is never asked to give up all six), and every
/// partition that moves was drained and committed first: nothing lost, nothing repeated.
fn hosts_join_and_leave_under_load(group: &str, settings: &str) {
    let broker = Broker::kafka().with_pipeline_topics(6);
    let [first, second, third] = [(); 3].map(|()| member_with(&broker, group, settings));
    let feeder = Feeder::start(&broker);
    let mut a = first.start();
    a.wait_for_log("partition assigned", Duration::from_secs(30));
    let mut b = second.start();
    b.wait_for_log("partition assigned", Duration::from_secs(60));
    let c = third.start();
    c.wait_for_log("partition assigned", Duration::from_secs(60));
    a.signal(libc::SIGTERM);
    assert_eq!(a.wait(Duration::from_secs(30)), Some(0), "{}", a.log());
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait(Duration::from_secs(30)), Some(0), "{}", b.log());
    let n = feeder.stop();

    let out = broker.consume("out", n as usize, Duration::from_secs(120));
    let (counts, by_key) = ids_by_key(&out);
    assert_none_missing(&counts, n, &c.log());
    assert_eq!(duplicates(&counts), 0, "moved partitions are drained and committed before they move");
    assert_first_arrivals_in_order(by_key);
    let revoked = revocations(&a.log());
    assert!(
        !revoked.is_empty() && revoked.iter().all(|&count| count < 6),
        "each rebalance took only some of A's partitions (revocations: {revoked:?}):\n{}",
        a.log()
    );
    eprintln!("{n} records through 4 membership changes; A's revocations: {revoked:?}");
}

#[test]
fn cooperative_sticky_hosts_join_and_leave_under_load_with_nothing_lost_or_repeated() {
    let settings = GROUP_SETTINGS
        .replace("properties = { ", "properties = { \"partition.assignment.strategy\" = \"cooperative-sticky\", ");
    hosts_join_and_leave_under_load("cooperative", &settings);
}

/// KIP-848: the broker assigns, and members learn of changes at their heartbeats (every
/// 500 ms on the test broker).
#[test]
fn consumer_protocol_hosts_join_and_leave_under_load_with_nothing_lost_or_repeated() {
    let settings =
        "properties = { \"group.protocol\" = \"consumer\", \"max.poll.interval.ms\" = 8000 }\ndrain_timeout = \"3s\"";
    hosts_join_and_leave_under_load("kip-848", settings);
}

/// A host told to stop while its group rebalances (it has just given its partitions up
/// and is rejoining) exits promptly, and the other host carries on from what it committed.
#[test]
fn a_host_stopped_while_its_group_rebalances_exits_with_nothing_lost_or_repeated() {
    let broker = Broker::kafka().with_pipeline_topics(6);
    let hosts = [member(&broker, "rebalancing"), member(&broker, "rebalancing")];
    let feeder = Feeder::start(&broker);
    let mut a = hosts[0].start();
    a.wait_for_log("partition assigned", Duration::from_secs(30));
    let b = hosts[1].start();
    a.wait_for_log("partitions revoked", Duration::from_secs(60));
    a.signal(libc::SIGTERM);
    assert_eq!(a.wait(Duration::from_secs(30)), Some(0), "stopped mid-rebalance:\n{}", a.log());
    b.wait_for_log("partition assigned", Duration::from_secs(60));
    let n = feeder.stop();

    let out = broker.consume("out", n as usize, Duration::from_secs(120));
    let (counts, by_key) = ids_by_key(&out);
    assert_none_missing(&counts, n, &b.log());
    assert_eq!(duplicates(&counts), 0, "revoked partitions are committed before they are released");
    assert_first_arrivals_in_order(by_key);
}
