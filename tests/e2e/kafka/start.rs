//! Where a group with no committed offsets starts: the latest record, or the first at or
//! after a point in time. (The earliest, the default, is what every other test reads.)
//! Record timestamps pass through the pipeline unchanged.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::harness::*;

const N: u64 = 1_000;
const HOUR: Duration = Duration::from_secs(3600);

/// `keyed_events` `from..to`, stamped `age` before now.
fn events_aged(from: u64, to: u64, age: Duration) -> impl Iterator<Item = TestRecord> {
    let stamp = (SystemTime::now() - age).duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    keyed_events(to, 0).skip(from as usize).map(move |mut record| {
        record.timestamp = Some(stamp);
        record
    })
}

fn ids(records: &[TestRecord]) -> Vec<u64> {
    let mut ids: Vec<u64> = ids_by_key(records).0.into_keys().collect();
    ids.sort_unstable();
    ids
}

/// Starts a new group reading from `start` after `N` records are in, then produces `N`
/// more: only those may come out.
fn assert_reads_only_what_arrives_after_joining(broker: &Broker, group: &str, start: &str) {
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(kafka_pipeline(broker, group, &format!("start = \"{start}\"")));
    let running = scratch.start();
    running.wait_for_log("partition assigned", Duration::from_secs(60));
    // The start offsets are looked up right after the assignment; give that a moment.
    std::thread::sleep(Duration::from_secs(2));
    broker.produce("in", keyed_events(2 * N, 0).skip(N as usize));

    let out = broker.consume("out", N as usize, Duration::from_secs(60));
    assert_eq!(ids(&out), (N..2 * N).collect::<Vec<_>>(), "{}", running.log());
}

#[test]
fn a_new_group_set_to_latest_reads_only_what_arrives_after_it_joined() {
    let broker = Broker::kafka().with_pipeline_topics(2);
    broker.produce("in", keyed_events(N, 0));
    assert_reads_only_what_arrives_after_joining(&broker, "start-latest", "latest");
}

/// Kafka finds a time by the records' own timestamps (`CreateTime`, the topic default):
/// the old records are stamped two hours ago, the new ones now, the start is an hour ago.
#[test]
fn a_new_group_set_to_a_time_starts_at_the_first_record_from_then_with_timestamps_kept() {
    let broker = Broker::kafka().with_pipeline_topics(2);
    broker.produce("in", events_aged(0, N, 2 * HOUR));
    let new: Vec<TestRecord> = events_aged(N, 2 * N, Duration::ZERO).collect();
    broker.produce("in", new.clone());
    let start = humantime::format_rfc3339_seconds(SystemTime::now() - HOUR);

    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(kafka_pipeline(&broker, "start-time", &format!("start = \"{start}\"")));
    let running = scratch.start();

    let out = broker.consume("out", N as usize, Duration::from_secs(60));
    let ids = ids(&out);
    assert_eq!((ids.first(), ids.len()), (Some(&N), N as usize), "starts at the first new record:\n{}", running.log());
    let stamp = new[0].timestamp;
    assert!(out.iter().all(|r| r.timestamp == stamp), "timestamps pass through unchanged");
}

/// A time after every record: Kafka answers "no such offset" (-1), which is the end.
#[test]
fn a_new_group_set_to_a_time_after_every_record_reads_only_what_comes_next() {
    let broker = Broker::kafka().with_pipeline_topics(2);
    broker.produce("in", events_aged(0, N, 2 * HOUR));
    let start = humantime::format_rfc3339_seconds(SystemTime::now() - HOUR);
    assert_reads_only_what_arrives_after_joining(&broker, "start-after", &start.to_string());
}
