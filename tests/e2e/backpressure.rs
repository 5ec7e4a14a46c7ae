//! A sink that cannot keep up stops the source instead of letting records pile up.

use std::process::Stdio;
use std::time::Duration;

use crate::harness::*;

fn records_in(log: &str) -> Option<u64> {
    log.lines()
        .filter(|l| l.contains("\"pipeline status\""))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["records_in"].as_u64())
        .next_back()
}

/// Runs one pipeline from `source` through `passthrough` to stdout, which nobody reads,
/// until the source stalls; returns the host and how many records it took in.
pub fn run_with_blocked_stdout(scratch: &Scratch, source: &str) -> (Running, u64) {
    let pipeline = one_pipeline(
        source,
        "[{ name = \"passthrough\" }]",
        "type = \"stdout\"",
        "default_route = \"out\"\nbatch_size = 100",
    );
    scratch.config(format!("[host]\nstatus_interval = \"100ms\"\n\n{pipeline}"));
    // Nobody reads the child's stdout (it stays open in `running`): once the pipe is full
    // the sink cannot write.
    let mut command = sluice();
    command.args(["--log-format", "json", "run", "-c"]).arg(scratch.path("sluice.toml"));
    let running = Running::spawn(command.stdout(Stdio::piped()));

    eventually(Duration::from_secs(60), "the source to stall", || {
        let before = records_in(&running.log());
        std::thread::sleep(Duration::from_millis(600));
        let after = records_in(&running.log());
        before.is_some() && before == after && after > Some(0)
    });
    let stalled = records_in(&running.log()).unwrap();
    (running, stalled)
}

#[test]
fn a_blocked_sink_pauses_the_source_with_bounded_memory() {
    let scratch = Scratch::with_plugins(&["passthrough"]);
    let source = "type = \"generator\"";
    let (running, stalled) = run_with_blocked_stdout(&scratch, source);
    // Batches in flight: the source's queue, the one in the plugin, the sink's inbox and
    // the group the sink is writing: about 85 batches of 100, plus what fits in the pipe.
    assert!(stalled <= 12_000, "the source read {stalled} records while the sink was blocked");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(records_in(&running.log()), Some(stalled), "the source kept reading");
}
