//! Acknowledgements and crashes: a record's source position is committed only after its
//! outputs are durably written, so killing the host at any moment loses nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::harness::*;
use crate::routing::{CONFIG, check_accounting};

/// The ids whose input line ends at or before `offset`.
fn ids_before(input: &str, offset: u64) -> Vec<u64> {
    let mut end = 0u64;
    let mut ids = Vec::new();
    for line in input.split_inclusive('\n') {
        end += line.len() as u64;
        if end > offset {
            break;
        }
        ids.push(id_of(line));
    }
    ids
}

/// Every id before the committed position is in some sink: the position never runs
/// ahead of the writes.
fn assert_committed_records_are_written(scratch: &Scratch, input: &str) -> u64 {
    // Position first, outputs second: anything committed must already be in the files.
    let Some(offset) = scratch.committed_offset("input") else {
        return 0;
    };
    let written: BTreeSet<u64> = ["all", "errors", "warn-a", "dlq"]
        .iter()
        .flat_map(|s| scratch.read_envelopes(&format!("out/{s}.jsonl")))
        .map(|e| id_of(value_of(&e)))
        .collect();
    for id in ids_before(input, offset) {
        assert!(written.contains(&id), "position {offset} is committed but record {id} was not written");
    }
    offset
}

#[test]
fn the_position_is_committed_only_after_the_outputs_are_written() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    let input = events(40_000, 13);
    scratch.write("input.jsonl", &input);
    scratch.config(CONFIG);
    let mut running = scratch.start();
    let mut samples = 0;
    let mut last = 0;
    while running.child.try_wait().unwrap().is_none() {
        let offset = assert_committed_records_are_written(&scratch, &input);
        if offset > last {
            samples += 1;
            last = offset;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(running.wait(Duration::from_secs(5)), Some(0), "{}", running.log());
    assert_committed_records_are_written(&scratch, &input);
    assert!(samples >= 3, "only {samples} distinct positions were observed while running: the test saw too little");
    check_accounting(&scratch, 40_000, 13, false);
}

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    let n = 60_000;
    let input = events(n, 13);
    scratch.write("input.jsonl", &input);
    scratch.config(CONFIG);
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("random seed {seed}");
    let mut kills = 0;
    for _ in 0..6 {
        let mut running = scratch.start();
        let before = scratch.committed_offset("input").unwrap_or(0);
        // Wait for progress, then a random moment more, then kill without warning.
        eventually(Duration::from_secs(60), "progress after a restart", || {
            scratch.committed_offset("input").unwrap_or(0) > before || running.child.try_wait().unwrap().is_some()
        });
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 300));
        if running.child.try_wait().unwrap().is_some() {
            break;
        }
        running.kill();
        kills += 1;
        assert_committed_records_are_written(&scratch, &input);
    }
    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(kills >= 5, "the input was processed after only {kills} kills; make it longer");
    let duplicates = check_accounting(&scratch, n, 13, true);
    eprintln!("{kills} kills, {duplicates} duplicate deliveries, nothing lost");
}

#[test]
fn sigterm_drains_in_flight_batches_and_exits_cleanly() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    scratch.config(CONFIG.replace("type = \"file\"\npath = \"input.jsonl\"", "type = \"generator\"\nrate = 2000.0"));
    let mut running = scratch.start();
    eventually(Duration::from_secs(30), "records flowing", || scratch.read_envelopes("out/all.jsonl").len() > 200);
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
    assert!(running.log().contains("stopped cleanly"), "{}", running.log());
    // Generator record ids are consecutive: after a drain there are no gaps anywhere.
    let mut ids: Vec<u64> = ["all", "errors", "dlq"]
        .iter()
        .flat_map(|s| scratch.read_envelopes(&format!("out/{s}.jsonl")))
        .map(|e| id_of(value_of(&e)))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let last = *ids.last().unwrap();
    assert_eq!(ids, (0..=last).collect::<Vec<_>>(), "a record read before the signal was not written");
}
