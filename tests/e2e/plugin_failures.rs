//! A plugin that panics, loops or hogs memory never takes the host down: the failing
//! batch is dead-lettered with the reason, the instance is replaced, and the next batch
//! runs normally.

use std::time::Duration;

use crate::harness::*;

#[test]
fn traps_timeouts_and_memory_caps_dead_letter_the_batch_and_the_host_carries_on() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    scratch.write("input.txt", "a\nb\npanic\nc\nreject\nd\nhog\ne\nspin\nf\n");
    let pipeline = one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"misbehave\", config = { log = \"yes\" } }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"\nbatch_size = 1",
    );
    scratch
        .config(format!("[host]\nplugin_limits = {{ memory = \"16 MiB\", batch_timeout = \"300ms\" }}\n\n{pipeline}"));
    let mut running = scratch.start();
    assert_eq!(running.wait(Duration::from_secs(60)), Some(0), "{}", running.log());

    assert_eq!(std::fs::read_to_string(scratch.path("out/out.txt")).unwrap(), "a\nb\nc\nd\ne\nf\n");
    let dead = scratch.read_envelopes("out/dlq.jsonl");
    let reasons: Vec<(&str, &str)> = dead.iter().map(|d| (value_of(d), header(d, "sluice.error").unwrap())).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(reasons[0].0, "panic");
    assert!(
        reasons[0].1.starts_with("plugin `misbehave` trapped: ") && reasons[0].1.ends_with("asked to panic"),
        "{}",
        reasons[0].1
    );
    assert_eq!(reasons[1], ("reject", "asked to reject"));
    assert_eq!(reasons[2].0, "hog");
    assert!(
        reasons[2].1.starts_with("plugin `misbehave`: plugin exceeded its memory limit of 16.0 MiB"),
        "{}",
        reasons[2].1
    );
    assert_eq!(reasons[3], ("spin", "plugin `misbehave` timed out: a batch may take at most 300ms"));
    for d in &dead {
        assert_eq!(header(d, "sluice.plugin"), Some("misbehave"));
    }

    // The plugin's own log lines reach the host log, tagged with the plugin.
    let log = running.log();
    let seen = log
        .lines()
        .filter(|l| l.contains("record seen") && l.contains("plugin=misbehave") && l.contains("pipeline=main"))
        .count();
    assert_eq!(seen, 6, "{log}");
}
