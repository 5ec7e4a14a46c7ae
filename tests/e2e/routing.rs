//! Every input record is accounted for exactly once across the routes and the
//! dead-letter sink; routes reach the right sinks; fan-out reaches every sink.

use crate::harness::*;

pub const CONFIG: &str = r#"
[host]
plugins_dir = "plugins"
data_dir = "data"

[sources.input]
type = "file"
path = "input.jsonl"

[sinks.all]
type = "file"
path = "out/all.jsonl"

[sinks.errors]
type = "file"
path = "out/errors.jsonl"

[sinks.warn-a]
type = "file"
path = "out/warn-a.jsonl"

[sinks.warn-b]
type = "file"
path = "out/warn-b.jsonl"

[sinks.dlq]
type = "file"
path = "out/dlq.jsonl"

[pipelines.main]
source = "input"
plugins = [
    { name = "json-validate" },
    { name = "router", config = { field = "level", map = { error = "errors", warn = "warnings,all" } } },
]
routes = { all = ["all"], errors = ["errors"], warnings = ["warn-a", "warn-b"] }
default_route = "all"
dead_letter = "dlq"
batch_size = 64
batch_wait = "20ms"
"#;

/// Checks every sink against what `events(n, invalid_every)` must produce; `at_least`
/// allows duplicates (after crashes) and returns how many there were.
pub fn check_accounting(scratch: &Scratch, n: u64, invalid_every: u64, at_least: bool) -> usize {
    let sinks = ["all", "errors", "warn-a", "warn-b", "dlq"];
    let counts: Vec<_> = sinks.iter().map(|s| id_counts(&scratch.read_envelopes(&format!("out/{s}.jsonl")))).collect();
    let mut duplicates = 0;
    for id in 0..n {
        let invalid = id % invalid_every == invalid_every - 1;
        let expected: [usize; 5] = match (invalid, level_of(id)) {
            (true, _) => [0, 0, 0, 0, 1],
            (false, "info") => [1, 0, 0, 0, 0],
            (false, "warn") => [1, 0, 1, 1, 0],
            (false, "error") => [0, 1, 0, 0, 0],
            _ => unreachable!(),
        };
        for (i, sink) in sinks.iter().enumerate() {
            let got = counts[i].get(&id).copied().unwrap_or(0);
            if at_least && expected[i] > 0 {
                assert!(got >= expected[i], "id {id} is missing from {sink}");
                duplicates += got - expected[i];
            } else {
                assert_eq!(got, expected[i], "id {id} in sink {sink}");
            }
        }
    }
    for (i, sink) in sinks.iter().enumerate() {
        assert!(counts[i].keys().all(|&id| id < n), "{sink} holds an id that was never sent");
    }
    duplicates
}

#[test]
fn every_record_lands_exactly_once_on_its_routes_or_in_the_dead_letter_sink() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    let n = 3000;
    scratch.write("input.jsonl", events(n, 13));
    scratch.config(CONFIG);
    let output = scratch.run_to_end();
    assert!(output.status.success(), "sluice failed:\n{}", String::from_utf8_lossy(&output.stderr));

    assert_eq!(check_accounting(&scratch, n, 13, false), 0);

    let dead = scratch.read_envelopes("out/dlq.jsonl");
    let first = &dead[0];
    assert_eq!(id_of(value_of(first)), 12);
    assert!(header(first, "sluice.error").unwrap().starts_with("value is not valid JSON"), "{first}");
    assert_eq!(header(first, "sluice.plugin"), Some("json-validate"));
    assert_eq!(header(first, "sluice.plugin.version").map(str::len), Some(12));
    assert_eq!(header(first, "sluice.pipeline"), Some("main"));
    assert_eq!(header(first, "sluice.source"), Some("input"));
    assert!(header(first, "sluice.offset").unwrap().parse::<u64>().unwrap() > 0);

    // Within each sink, records keep the input order.
    for sink in ["all", "errors", "warn-a", "warn-b", "dlq"] {
        let ids: Vec<u64> =
            scratch.read_envelopes(&format!("out/{sink}.jsonl")).iter().map(|e| id_of(value_of(e))).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{sink} is out of order");
    }
    // Everything read was acknowledged: the position is the end of the input.
    assert_eq!(scratch.committed_offset("input"), Some(std::fs::metadata(scratch.path("input.jsonl")).unwrap().len()));
}

#[test]
fn an_unknown_route_dead_letters_the_record_with_the_reason() {
    let scratch = Scratch::with_plugins(&["router"]);
    scratch.write("input.jsonl", "{\"id\":0,\"level\":\"error\"}\n{\"id\":1,\"level\":\"info\"}\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.jsonl\"",
        "[{ name = \"router\", config = { field = \"level\", map = { error = \"nowhere\" } } }]",
        "type = \"file\"\npath = \"out/out.jsonl\"",
        "",
    ));
    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let dead = scratch.read_envelopes("out/dlq.jsonl");
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(header(&dead[0], "sluice.error"), Some("no route is named `nowhere` in pipeline `main` (routes: out)"));
    assert_eq!(
        header(&dead[1], "sluice.error"),
        Some("the record names no route and pipeline `main` has no default_route")
    );
    assert!(scratch.read_envelopes("out/out.jsonl").is_empty());
}

#[test]
fn a_line_the_source_cannot_decode_is_dead_lettered_with_the_raw_bytes() {
    let scratch = Scratch::with_plugins(&["passthrough"]);
    scratch
        .write("input.jsonl", "{\"value\":\"good\"}\n{\"valeu\":\"typo\"}\n{\"key\":\"k\",\"value\":\"also good\"}\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.jsonl\"\nformat = \"envelope\"",
        "[{ name = \"passthrough\" }]",
        "type = \"file\"\npath = \"out/out.jsonl\"",
        "default_route = \"out\"",
    ));
    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out: Vec<_> = scratch.read_envelopes("out/out.jsonl").iter().map(|e| value_of(e).to_owned()).collect();
    assert_eq!(out, ["good", "also good"]);
    let dead = scratch.read_envelopes("out/dlq.jsonl");
    assert_eq!(dead.len(), 1);
    assert_eq!(value_of(&dead[0]), "{\"valeu\":\"typo\"}");
    let reason = header(&dead[0], "sluice.error").unwrap();
    assert!(
        reason.starts_with("source could not decode the record: not a record envelope: unknown field `valeu`"),
        "{reason}"
    );
    assert_eq!(header(&dead[0], "sluice.plugin"), None);
}

#[test]
fn the_totals_logged_at_the_end_match_what_the_sinks_received() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    let n = 1000;
    scratch.write("input.jsonl", events(n, 13));
    scratch.config(CONFIG);
    let mut command = sluice();
    command.args(["--log-format", "json", "run", "-c"]).arg(scratch.path("sluice.toml"));
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let log = String::from_utf8(output.stderr).unwrap();
    let totals: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "pipeline finished")
        .unwrap_or_else(|| panic!("no totals in the log:\n{log}"));
    let written: usize = ["all", "errors", "warn-a", "warn-b"]
        .iter()
        .map(|s| scratch.read_envelopes(&format!("out/{s}.jsonl")).len())
        .sum();
    let dead = scratch.read_envelopes("out/dlq.jsonl").len();
    assert_eq!(totals["pipeline"], "main");
    assert_eq!(totals["records_in"], n);
    assert_eq!(totals["records_out"], written);
    assert_eq!(totals["dead_lettered"], dead);
    assert_eq!(totals["dropped"], 0);
    assert!(totals["batches_acked"].as_u64().unwrap() >= n / 64, "{totals}");
}
