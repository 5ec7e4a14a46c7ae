//! Every SDK language against the same expectations: the example plugins of each
//! language (`plugins/<language>/`) give the results in `plugins/expected/` through the
//! real host, carry a normal load at the default limits, and fail the way their authors
//! expect (`author_loop` has `sluice plugin new` → `build` → `test --expect`).

use std::path::Path;
use std::process::Output;

use crate::harness::*;

/// `sluice plugin test FILE --input plugins/expected/input.jsonl --expect EXPECT` with
/// `plugin`'s configuration from `plugins/expected/config.toml`.
fn test_against(wasm: &Path, plugin: &str, expect: &Path) -> Output {
    let expected = workspace_root().join("plugins/expected");
    let configs: toml::Table = toml::from_str(&std::fs::read_to_string(expected.join("config.toml")).unwrap()).unwrap();
    let mut command = sluice();
    command.args(["plugin", "test"]).arg(wasm).arg("--input").arg(expected.join("input.jsonl"));
    command.args(["--input-format", "envelope", "--expect"]).arg(expect);
    for (key, value) in configs[plugin].as_table().unwrap() {
        command.arg("--config").arg(format!("{key}={}", value.as_str().unwrap()));
    }
    command.output().unwrap()
}

/// Each example of the language in `built` gives the shared expected results.
fn examples_give_the_shared_results(built: &Path) {
    let expected = workspace_root().join("plugins/expected");
    for plugin in ["uppercase", "filter", "router", "json-validate"] {
        let wasm = built.join(format!("{plugin}.wasm"));
        let output = test_against(&wasm, plugin, &expected.join(format!("{plugin}.jsonl")));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{}: {stdout}{}", wasm.display(), String::from_utf8_lossy(&output.stderr));
        assert!(stdout.starts_with("ok: 13 records as "), "{stdout}");
    }
}

#[test]
fn rust_examples_give_the_shared_results() {
    examples_give_the_shared_results(built_plugins());
}

#[test]
fn python_examples_give_the_shared_results() {
    examples_give_the_shared_results(&built_examples("python"));
}

/// On StarlingMonkey, the default engine.
#[test]
fn javascript_examples_give_the_shared_results() {
    examples_give_the_shared_results(&built_examples("js"));
}

/// On QuickJS, which their package.json chooses.
#[test]
fn typescript_examples_give_the_shared_results() {
    examples_give_the_shared_results(&built_examples("ts"));
}

#[test]
fn go_examples_give_the_shared_results() {
    examples_give_the_shared_results(&built_examples("go"));
}

#[test]
fn c_examples_give_the_shared_results() {
    examples_give_the_shared_results(&built_examples("c"));
}

#[test]
fn results_that_differ_from_the_expectations_fail_with_a_diff() {
    let expected = workspace_root().join("plugins/expected");
    // The router's results are not the filter's.
    let output = test_against(&built_plugins().join("router.wasm"), "router", &expected.join("filter.jsonl"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("record 1 (") && stderr.contains("  expected: ") && stderr.contains("  actual:   "),
        "{stderr}"
    );
    let summary = format!("records differ from {}", expected.join("filter.jsonl").display());
    assert!(stderr.trim_end().ends_with(&summary), "{stderr}");
    assert!(output.stdout.is_empty());
}

/// componentize-py 0.25.1 never frees the buffer a call returns: a Python instance's
/// memory grows by its results' size, batch after batch, until the host recycles it
/// (`recycle_memory`, by default 3/4 of the memory limit). Here the threshold is low
/// enough to recycle several times within the run, with nothing lost or repeated.
#[test]
fn python_plugins_route_a_normal_load_across_instance_recycling() {
    built_examples("python");
    let scratch = Scratch::with_plugins(&[]);
    scratch.install_plugin("python/json-validate", "json-validate");
    scratch.install_plugin("python/router", "router");
    let n = 60_000;
    scratch.write("input.jsonl", events(n, 13));
    // The routing suite's pipeline, batches of 1000, default memory (64 MiB); a Python
    // instance starts at some 12 MiB.
    let config = crate::routing::CONFIG
        .replace("batch_size = 64", "batch_size = 1000")
        .replace("data_dir = \"data\"", "data_dir = \"data\"\nplugin_limits = { recycle_memory = \"14 MiB\" }");
    scratch.config(config);
    let output = scratch.run_to_end();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "sluice failed:\n{log}");
    assert!(log.matches("plugin instance recycled").count() >= 2, "no recycling:\n{log}");
    assert_eq!(crate::routing::check_accounting(&scratch, n, 13, false), 0);
    let dead = scratch.read_envelopes("out/dlq.jsonl");
    assert!(header(&dead[0], "sluice.error").unwrap().starts_with("value is not valid JSON: "), "{}", dead[0]);
}

/// A normal load through a language's examples at the default plugin limits: a
/// garbage-collected heap (JavaScript's, on either engine) must settle inside the default
/// memory limit, not trap at it (StarlingMonkey's heap grows in large steps before it
/// collects), and a C plugin's allocations must not pile up from batch to batch.
fn examples_route_a_normal_load(language: &str) {
    built_examples(language);
    let scratch = Scratch::with_plugins(&[]);
    scratch.install_plugin(&format!("{language}/json-validate"), "json-validate");
    scratch.install_plugin(&format!("{language}/router"), "router");
    let n = 60_000;
    scratch.write("input.jsonl", events(n, 13));
    scratch.config(crate::routing::CONFIG.replace("batch_size = 64", "batch_size = 1000"));
    let output = scratch.run_to_end();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "sluice failed:\n{log}");
    assert!(!log.contains("batch failed"), "a batch failed:\n{log}");
    assert_eq!(crate::routing::check_accounting(&scratch, n, 13, false), 0);
}

#[test]
fn javascript_plugins_route_a_normal_load_at_the_default_limits() {
    examples_route_a_normal_load("js");
}

#[test]
fn typescript_plugins_on_quickjs_route_a_normal_load_at_the_default_limits() {
    examples_route_a_normal_load("ts");
}

/// Go's collector runs between calls only (the SDK turns it off inside them, because a
/// collection inside `cabi_realloc` would read the clock where the component model
/// forbids it): the heap must still settle inside the default memory limit.
#[test]
fn go_plugins_route_a_normal_load_at_the_default_limits() {
    examples_route_a_normal_load("go");
}

#[test]
fn c_plugins_route_a_normal_load_at_the_default_limits() {
    examples_route_a_normal_load("c");
}

#[test]
fn a_project_that_does_not_build_fails_with_the_toolchains_reason_and_leaves_no_file() {
    let scratch = Scratch::with_plugins(&[]);
    scratch.write("broken/app.py", "import sluice_sdk as sluice\n\ndef process(:\n");
    let output = sluice().args(["plugin", "build"]).arg(scratch.path("broken")).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("SyntaxError"), "the toolchain's own message reaches the author:\n{stderr}");
    let left: Vec<_> = std::fs::read_dir(scratch.path("broken/build")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");

    let output = sluice().args(["plugin", "build"]).arg(scratch.path("")).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let names = "it has none of Cargo.toml (rust), app.py (python), src/index.js (js), src/index.ts (ts), go.mod (go), \
         plugin.c (c)";
    assert!(stderr.contains(&format!("is not a plugin project: {names}")), "{stderr}");
}

#[test]
fn a_typescript_type_error_fails_the_build_with_tscs_message() {
    let stderr = a_typo_fails_the_build("ts", "src/index.ts", "record.json()", "record.jsonn()");
    assert!(
        stderr.contains("src/index.ts(") && stderr.contains("error TS2551: Property 'jsonn' does not exist"),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("error: tsc failed (exit status: 2)"), "{stderr}");
}

#[test]
fn a_c_compile_error_fails_the_build_with_clangs_message() {
    let stderr = a_typo_fails_the_build("c", "plugin.c", "sluice_record_json(", "sluice_record_jsonn(");
    assert!(stderr.contains("plugin.c:") && stderr.contains("sluice_record_jsonn"), "{stderr}");
    assert!(stderr.trim_end().ends_with("error: clang-19 failed (exit status: 1)"), "{stderr}");
}

/// A C plugin that crashes on one record (a null pointer written through, which traps in
/// Wasm as it would segfault natively) costs that record only: the host dead-letters it
/// with the trap, and the records around it come through.
#[test]
fn a_c_plugin_that_crashes_on_a_record_costs_only_that_record() {
    let scratch = Scratch::with_plugins(&[]);
    scratch.write(
        "crash/plugin.c",
        r#"#include <stdlib.h>
#include "sluice.h"

static void process(void *state, const sluice_record *record, sluice_output *out) {
    (void)state;
    if (sluice_bytes_eq(sluice_record_value(record), "boom")) abort();
    sluice_forward(out, NULL);
}

SLUICE_PLUGIN(.process = process);
"#,
    );
    let output = sluice().args(["plugin", "build"]).arg(scratch.path("crash")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (lines, stdout) = a_boom_c(&scratch, "crash/build/crash.wasm");
    assert!(lines[1]["rejected"].as_str().is_some_and(|r| r.contains("wasm trap")), "{stdout}");
}

/// `sluice plugin test WASM` over the lines `a`, `boom` and `c`: its result lines, the
/// first and last checked to be passed on, and its output.
fn a_boom_c(scratch: &Scratch, wasm: &str) -> (Vec<serde_json::Value>, String) {
    scratch.write("input.jsonl", "a\nboom\nc\n");
    let output = sluice()
        .args(["plugin", "test"])
        .arg(scratch.path(wasm))
        .arg("--input")
        .arg(scratch.path("input.jsonl"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0]["outputs"][0]["value"], "a", "{stdout}");
    assert_eq!(lines[2]["outputs"][0]["value"], "c", "{stdout}");
    (lines, stdout)
}

#[test]
fn a_go_compile_error_fails_the_build_with_gos_message() {
    let stderr = a_typo_fails_the_build("go", "plugin.go", "record.JSONField(", "record.JSONFeld(");
    assert!(stderr.contains("plugin.go:") && stderr.contains("record.JSONFeld undefined"), "{stderr}");
    assert!(stderr.trim_end().ends_with("error: go build failed (exit status: 1)"), "{stderr}");
}

/// A new `language` project with `from` replaced by `to` in its `file` fails to build,
/// leaving no plugin; what the build said.
fn a_typo_fails_the_build(language: &str, file: &str, from: &str, to: &str) -> String {
    let scratch = Scratch::with_plugins(&[]);
    let output =
        sluice().args(["plugin", "new", "typo", "--lang", language, "--dir"]).arg(scratch.path("")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let source = scratch.path(&format!("typo/{file}"));
    let text = std::fs::read_to_string(&source).unwrap();
    assert!(text.contains(from), "{file} has no {from}");
    std::fs::write(&source, text.replace(from, to)).unwrap();
    let output = sluice().args(["plugin", "build"]).arg(scratch.path("typo")).output().unwrap();
    assert!(!output.status.success());
    assert!(!scratch.path("typo/build/typo.wasm").exists());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A Go plugin that panics on one record (an index out of range) costs that record
/// only: the SDK fails the call with the panic, and the host finds the record that fails
/// alone and dead-letters it with that reason.
#[test]
fn a_go_plugin_that_panics_on_a_record_costs_only_that_record() {
    let scratch = Scratch::with_plugins(&[]);
    go_plugin(
        &scratch,
        "crash",
        r#"package main

import "sluice.dev/sdk"

func init() {
	sluice.Export(func(sluice.Config) (sluice.Plugin, error) {
		return sluice.MapValues(func(value []byte) ([]byte, error) {
			if string(value) == "boom" {
				var none []byte
				_ = none[len(value)]
			}
			return value, nil
		}), nil
	})
}

func main() {}
"#,
    );
    let (lines, stdout) = a_boom_c(&scratch, "crash/build/crash.wasm");
    let reason = lines[1]["rejected"].as_str().unwrap_or_default();
    // With the line that panicked, as the module names the file (`-trimpath`).
    let expected = "panic at offset 1: runtime error: index out of range [4] with length 0 (at crash/plugin.go:10)";
    assert!(reason.contains(expected), "{stdout}");
}

/// Builds a Go plugin `name` of one file, `plugin.go`, in a project `plugin new` wrote.
fn go_plugin(scratch: &Scratch, name: &str, source: &str) -> std::path::PathBuf {
    let output =
        sluice().args(["plugin", "new", name, "--lang", "go", "--dir"]).arg(scratch.path("")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    std::fs::remove_file(scratch.path(&format!("{name}/plugin_test.go"))).unwrap();
    scratch.write(&format!("{name}/plugin.go"), source);
    let output = sluice().args(["plugin", "build"]).arg(scratch.path(name)).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    scratch.path(&format!("{name}/build/{name}.wasm"))
}

/// The Go SDK's host functions, through the component's imports: a counter and a gauge
/// reach the host's metrics labelled with the plugin and pipeline, and a log line with
/// its fields reaches the host's log (`plugin test` shows it).
#[test]
fn a_go_plugins_logs_counters_and_gauges_reach_the_host() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use sluice::plugin::{PluginEngine, PluginInstance, Sandbox};
    use sluice::record::{Record, RecordMeta};

    let scratch = Scratch::with_plugins(&[]);
    let wasm = go_plugin(
        &scratch,
        "telemetry",
        r#"package main

import "sluice.dev/sdk"

func init() {
	sluice.Export(func(sluice.Config) (sluice.Plugin, error) {
		return sluice.Filter(func(r *sluice.Record) (bool, error) {
			sluice.Log(sluice.LevelWarn, "saw a record", sluice.Field{Name: "value", Value: string(r.Value())})
			sluice.CounterAdd("records_seen", 2)
			sluice.GaugeSet("last_length", float64(len(r.Value())))
			return true, nil
		}), nil
	})
}

func main() {}
"#,
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let engine = PluginEngine::new().unwrap();
    let compiled = std::sync::Arc::new(engine.compile("telemetry", &std::fs::read(&wasm).unwrap()).unwrap());
    let mut instance = PluginInstance::start(compiled, "orders", &[], &Sandbox::default()).unwrap();
    let records: Vec<Record> = ["a", "bbb"].into_iter().map(Record::from_value).collect();
    let stream: std::sync::Arc<str> = std::sync::Arc::from("s");
    let meta: Vec<RecordMeta> =
        (0..2).map(|offset| RecordMeta { stream: stream.clone(), partition: 0, offset }).collect();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let result = metrics::with_local_recorder(&recorder, || {
        instance.process("src", records.iter().zip(&meta), std::time::Duration::from_secs(5))
    })
    .unwrap();
    assert_eq!(result.outputs.len(), 2);
    let mut found = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<_> = key.key().labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
        if labels.contains(&("plugin".into(), "telemetry".into()))
            && labels.contains(&("pipeline".into(), "orders".into()))
        {
            found.insert(key.key().name().to_owned(), value);
        }
    }
    assert_eq!(found.get("records_seen"), Some(&DebugValue::Counter(4)), "{found:?}");
    assert!(matches!(found.get("last_length"), Some(DebugValue::Gauge(g)) if g.0 == 3.0), "{found:?}");

    scratch.write("input.jsonl", "a\n");
    let output =
        sluice().args(["plugin", "test"]).arg(&wasm).arg("--input").arg(scratch.path("input.jsonl")).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("WARN") && stderr.contains("saw a record") && stderr.contains(r#"fields="value=\"a\"""#),
        "{stderr}"
    );
}
