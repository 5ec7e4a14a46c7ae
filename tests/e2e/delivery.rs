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
    // Six kills, the k-th once the committed position passed a random point in the k-th
    // eighth of the input, wherever the host is in its batching and fsyncs by then: at
    // least an eighth of the input is left for every run, so that the kills, not the end
    // of the input, end the first six runs however fast the host is.
    let len = input.len() as u64;
    let mut kills = 0;
    for k in 1..=6 {
        let mut running = scratch.start();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let target = len * k / 8 + seed % (len / 8);
        eventually(Duration::from_secs(60), "progress to the next kill", || {
            scratch.committed_offset("input").unwrap_or(0) >= target || running.child.try_wait().unwrap().is_some()
        });
        if running.child.try_wait().unwrap().is_some() {
            break;
        }
        running.kill();
        kills += 1;
        assert_committed_records_are_written(&scratch, &input);
    }
    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(kills, 6, "the host finished the input before its sixth kill");
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

/// The lines of a file sink's output, each checked to be whole: the file ends with a
/// newline and every line is a JSON envelope.
fn whole_lines(path: &std::path::Path) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap_or_default();
    assert!(bytes.is_empty() || bytes.ends_with(b"\n"), "the file ends in a broken line");
    let text = String::from_utf8(bytes).expect("the file is UTF-8");
    text.lines()
        .map(|line| {
            let envelope: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("broken line {line:?}: {e}"));
            id_of(value_of(&envelope))
        })
        .collect()
}

#[test]
fn a_write_that_fails_acknowledges_nothing_and_leaves_no_broken_or_repeated_line() {
    use std::process::Stdio;

    const FILE_SIZE_LIMIT: u64 = 256 * 1024;
    let n = 20_000;
    let scratch = Scratch::with_plugins(&[]);
    scratch.write("input.jsonl", events(n, 0));
    let config = one_pipeline(
        "type = \"file\"\npath = \"input.jsonl\"",
        "[]",
        "type = \"file\"\npath = \"out/out.jsonl\"",
        "default_route = \"out\"\nbatch_size = 300",
    );
    scratch.config(format!("[host]\nshutdown_timeout = \"1s\"\n\n{config}"));

    // Every file the host writes is limited, as on a full disk; the output file is the
    // only one that reaches the limit.
    let mut command = sluice();
    command.args(["run", "-c"]).arg(scratch.path("sluice.toml")).stdout(Stdio::null());
    with_rlimit(&mut command, libc::RLIMIT_FSIZE, FILE_SIZE_LIMIT);
    let mut running = Running::spawn(&mut command);
    running.wait_for_log("File too large", Duration::from_secs(60));
    assert!(running.log().contains("sink write failed; retrying"), "{}", running.log());

    let out = scratch.path("out/out.jsonl");
    let written = whole_lines(&out);
    assert!(std::fs::metadata(&out).unwrap().len() <= FILE_SIZE_LIMIT);
    assert_eq!(written, (0..written.len() as u64).collect::<Vec<_>>(), "lines are missing or repeated");
    let committed = scratch.committed_offset("input").unwrap_or(0);
    let input = events(n, 0);
    assert!(
        ids_before(&input, committed).len() <= written.len(),
        "the position ({committed}) is committed past what was written ({} lines)",
        written.len()
    );

    // The sink cannot drain, so the shutdown gives up after `shutdown_timeout`.
    running.signal(libc::SIGTERM);
    running.wait(Duration::from_secs(30));

    // Without the limit, the rest follows each line once, in order.
    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(whole_lines(&out), (0..n).collect::<Vec<_>>());
}

/// A worker that panics after running a batch and before sending it on (a fail point,
/// `--features failpoints`): the batch is never acknowledged, nothing from it on is
/// committed, the host stops saying why, and the next start delivers every record.
#[cfg(feature = "failpoints")]
#[test]
fn a_worker_that_panics_commits_nothing_it_did_not_deliver() {
    let n = 5000;
    let scratch = Scratch::with_plugins(&["passthrough"]);
    let input = events(n, 0);
    scratch.write("input.jsonl", &input);
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.jsonl\"",
        "[{ name = \"passthrough\" }]",
        "type = \"file\"\npath = \"out/out.jsonl\"",
        "default_route = \"out\"\nbatch_size = 100",
    ));
    let out = scratch.path("out/out.jsonl");
    let child = sluice()
        .args(["run", "-c"])
        .arg(scratch.path("sluice.toml"))
        .env("FAILPOINTS", "worker-before-dispatch=5*off->panic(a test's fail point)")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_with_deadline(child, Duration::from_secs(60));
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a worker's panic fails the run: {log}");
    assert!(log.contains("a pipeline worker panicked"), "{log}");
    let written = whole_lines(&out);
    assert_eq!(written, (0..500).collect::<Vec<_>>(), "the five batches before the panic, and nothing of the sixth");
    let committed = scratch.committed_offset("input").unwrap_or(0);
    assert!(
        ids_before(&input, committed).len() <= 500,
        "committed past the batch that was never delivered: {committed}"
    );

    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut seen = BTreeSet::new();
    let first_arrivals: Vec<u64> = whole_lines(&out).into_iter().filter(|id| seen.insert(*id)).collect();
    assert_eq!(first_arrivals, (0..n).collect::<Vec<_>>(), "every record, first arrivals in order");
}
