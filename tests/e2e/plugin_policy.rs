//! What a pipeline's config says about each plugin: its failure policy, its own limits,
//! and the capabilities it is granted.

use std::time::Duration;

use crate::harness::*;

/// 2000 lines with a `panic` every 500th, from `misbehave` (with `on_failure`) to
/// `out/out.txt`.
fn panicking_pipeline(scratch: &Scratch, plugin: &str) {
    let lines: Vec<String> = (0..2000).map(|i| if i % 500 == 250 { "panic".into() } else { format!("r{i}") }).collect();
    scratch.write("input.txt", lines.join("\n") + "\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        &format!("[{plugin}]"),
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"\nbatch_size = 200",
    ));
}

fn good_lines() -> Vec<String> {
    (0..2000).filter(|i| i % 500 != 250).map(|i| format!("r{i}")).collect()
}

fn out_lines(scratch: &Scratch) -> Vec<String> {
    std::fs::read_to_string(scratch.path("out/out.txt")).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[test]
fn on_failure_skip_drops_only_the_failing_records_and_counts_them() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    panicking_pipeline(&scratch, "{ name = \"misbehave\", on_failure = \"skip\" }");
    let output = scratch.run_to_end();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert_eq!(out_lines(&scratch), good_lines());
    assert!(scratch.read_envelopes("out/dlq.jsonl").is_empty(), "nothing is dead-lettered");
    assert!(log.contains("records the plugin failed on are skipped"), "{log}");
    assert!(log.contains("skipped=4"), "the status line counts them: {log}");
}

#[test]
fn on_failure_fail_stops_the_pipeline_before_the_failing_batch_and_loses_nothing() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    panicking_pipeline(&scratch, "{ name = \"misbehave\", on_failure = \"fail\" }");
    let output = scratch.run_to_end();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("plugin `misbehave` version") && log.contains("failed on the record at"),
        "the error names the plugin and the record: {log}"
    );
    assert!(log.contains("its on_failure is \"fail\", so the pipeline stops"), "{log}");
    // Nothing from the failing batch (records 200..400) on is delivered or committed.
    let out = out_lines(&scratch);
    assert_eq!(out, good_lines()[..out.len()], "what was delivered is in order");
    assert!(out.len() <= 200, "records after the failing batch's start were delivered: {}", out.len());
    let committed = scratch.committed_offset("input").unwrap_or(0);
    let first_of_failing_batch: u64 = (0..200).map(|i| format!("r{i}\n").len() as u64).sum();
    assert!(committed <= first_of_failing_batch, "committed {committed}, past the failing batch");

    // With the failing records sent to the dead-letter sink instead, a restart delivers
    // the rest: nothing was lost.
    panicking_pipeline(&scratch, "{ name = \"misbehave\" }");
    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut out = out_lines(&scratch);
    out.dedup();
    assert_eq!(out, good_lines());
    assert_eq!(scratch.read_envelopes("out/dlq.jsonl").len(), 4);
}

#[test]
fn a_plugin_limit_overrides_the_hosts_for_that_plugin_only() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    scratch.write("input.txt", "a\nsleep\nb\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"misbehave\", limits = { batch_timeout = \"300ms\" } }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"",
    ));
    let started = std::time::Instant::now();
    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(started.elapsed() < Duration::from_secs(20), "the host's 5 s deadline was used");
    assert_eq!(out_lines(&scratch), ["a", "b"]);
    let dead = scratch.read_envelopes("out/dlq.jsonl");
    let reason = header(&dead[0], "sluice.error").unwrap();
    assert!(reason.contains("a call may take at most 300ms"), "{reason}");
}

#[test]
fn granted_environment_variables_and_directories_are_visible_and_nothing_else() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    scratch.write("input.txt", "env\nfile\nsocket\n");
    scratch.write("granted/hostname", "sandbox\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"misbehave\", grants = { env = [\"HOME\"], read_dirs = { \"/etc\" = \"granted\" } } }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"",
    ));
    let output =
        sluice().args(["run", "-c"]).arg(scratch.path("sluice.toml")).env("HOME", "/home/plugin").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(out_lines(&scratch), ["env:granted", "file:granted", "socket:denied"]);
}

#[test]
fn a_grant_of_an_unset_variable_or_a_missing_directory_stops_the_start() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    scratch.write("input.txt", "env\n");
    let config = |grants: &str| {
        one_pipeline(
            "type = \"file\"\npath = \"input.txt\"",
            &format!("[{{ name = \"misbehave\", grants = {grants} }}]"),
            "type = \"file\"\npath = \"out/out.txt\"",
            "default_route = \"out\"",
        )
    };
    let run = |grants: &str| {
        scratch.config(config(grants));
        let output = sluice()
            .args(["run", "-c"])
            .arg(scratch.path("sluice.toml"))
            .env_remove("SLUICE_TEST_UNSET")
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let err = run("{ env = [\"SLUICE_TEST_UNSET\"] }");
    assert!(
        err.contains(
            "sluice.toml: pipelines.main.plugins[0].grants.env[0]: environment variable `SLUICE_TEST_UNSET` is not set"
        ),
        "{err}"
    );
    let err = run("{ read_dirs = { \"/data\" = \"missing\" } }");
    assert!(err.contains("pipelines.main.plugins[0].grants.read_dirs.\"/data\": cannot read "), "{err}");
    assert!(!scratch.path("out").exists(), "nothing started");
}

#[test]
fn an_instance_whose_memory_grew_is_recycled_before_it_reaches_its_cap() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    // Each `leak` keeps 4 MiB: 40 of them would need 160 MiB of one instance.
    scratch.write("input.txt", "leak\n".repeat(40));
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"misbehave\", limits = { memory = \"48 MiB\" } }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"\nbatch_size = 2",
    ));
    let output = scratch.run_to_end();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(scratch.read_envelopes("out/dlq.jsonl").is_empty(), "no record hit the memory cap: {log}");
    assert_eq!(out_lines(&scratch).len(), 40);
    assert!(log.contains("plugin instance recycled") && log.contains("past 36.0 MiB"), "{log}");
    assert!(!log.contains("batch failed"), "no call failed: {log}");
}
