//! A sink that cannot keep up pauses the partitions: records stay in Kafka instead of
//! piling up in the host.

use crate::harness::Scratch;

use super::*;
use crate::backpressure::run_with_blocked_stdout;

/// The resident memory of a process, from /proc.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

#[test]
fn a_blocked_sink_stalls_the_partitions_with_bounded_memory() {
    let broker = Broker::kafka();
    broker.create_topic("in", 2);
    const N: u64 = 200_000;
    let pad = "x".repeat(1000);
    broker.produce("in", (0..N).map(|id| TestRecord::new("k", format!("{{\"id\":{id},\"pad\":\"{pad}\"}}"), &[])));

    let scratch = Scratch::with_plugins(&["passthrough"]);
    let source = broker.source_table("slow", "in");
    let (running, stalled) = run_with_blocked_stdout(&scratch, &source);
    let rss = rss_mib(running.child.id());
    eprintln!("stalled after {stalled} of {N} records (about 1 KiB each), resident memory {rss} MiB");
    assert!(stalled <= 20_000, "the pipeline took in {stalled} records while its sink was blocked");
    // The topic holds about 200 MiB; librdkafka's per-partition queues hold up to 16 MiB each.
    assert!(rss < 160, "resident memory grew to {rss} MiB");
}
