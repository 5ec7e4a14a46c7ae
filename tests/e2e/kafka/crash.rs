//! Killing the host at random moments: with offsets committed only after delivery, every
//! record is in the output after a restart; duplicates are counted and reported.
//!
//! This runs on librdkafka's mock cluster: Tansu 0.6 never evicts a group member that
//! died without leaving, so after a SIGKILL it keeps assigning partitions to the dead
//! member. (Graceful hand-overs run on Tansu, in `group.rs`.)

use std::time::{Duration, Instant};

use super::*;
use crate::harness::*;

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    let broker = Broker::mock().with_pipeline_topics(3);
    const N: u64 = 60_000;
    broker.produce("in", keyed_events(N, 0));

    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(kafka_pipeline(
        &broker,
        "crash-test",
        "properties = { \"session.timeout.ms\" = 6000 }\ndrain_timeout = \"3s\"",
    ));
    // A cheap pseudo-random sequence of kill delays, varied per run but printed.
    let seed = Instant::now().elapsed().as_nanos() as u64 ^ std::process::id() as u64;
    let delays: Vec<u64> = (0..6)
        .map(|i| 100 + (seed.wrapping_mul(6364136223846793005).wrapping_add(i * 1442695040888963407) >> 33) % 2400)
        .collect();
    eprintln!("kill delays after assignment (ms): {delays:?}");
    for delay in &delays {
        let mut running = scratch.start();
        // Killed while it owns partitions and is working through them.
        running.wait_for_log("partition assigned", Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(*delay));
        running.kill();
    }
    let _last = scratch.start();
    let out = broker.consume("out", N as usize, Duration::from_secs(180));
    let (counts, by_key) = ids_by_key(&out);
    assert_none_missing(&counts, N, &format!("after {} kills", delays.len()));
    let duplicates = duplicates(&counts);
    eprintln!(
        "{} kills: {N} records, {duplicates} duplicates ({:.2}%)",
        delays.len(),
        duplicates as f64 * 100.0 / N as f64
    );
    assert_first_arrivals_in_order(by_key);
    assert!(out.iter().all(|r| r.value.starts_with("{\"id\":")));
}
