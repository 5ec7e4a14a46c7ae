//! Bad configuration and bad plugin files: a clear error naming the file, the key and the
//! problem, a non-zero exit, and nothing started.

use crate::harness::*;
use crate::routing::CONFIG;

fn run_failing(scratch: &Scratch) -> String {
    let output = scratch.run_to_end();
    assert!(!output.status.success(), "sluice started with a bad config");
    assert!(!scratch.path("out").exists(), "sinks were opened although the config is bad");
    // (`data/compiled-plugins` may be there: plugins that compiled are cached.)
    assert!(!scratch.path("data/sources").exists(), "sources were opened although the config is bad");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn a_misspelt_key_is_named_with_file_line_and_key() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    scratch.write("input.jsonl", "{}\n");
    let config = scratch.config(CONFIG.replace("batch_size = 64", "batch_sizee = 64"));
    let stderr = run_failing(&scratch);
    let expected = format!(
        "error: {}: pipelines.main.batch_sizee (line 39, column 1): unknown field `batch_sizee`",
        config.display()
    );
    assert!(stderr.contains(&expected), "expected {expected:?} in:\n{stderr}");
}

#[test]
fn a_reference_to_a_missing_sink_is_named() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    let config = scratch.config(CONFIG.replace("dead_letter = \"dlq\"", "dead_letter = \"dlx\""));
    let stderr = run_failing(&scratch);
    let expected = format!("{}: pipelines.main.dead_letter: no sink is named `dlx`", config.display());
    assert!(stderr.contains(&expected), "expected {expected:?} in:\n{stderr}");
    // `validate` reports the same without running anything.
    let output = sluice().args(["validate", "-c"]).arg(&config).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains(&expected));
}

#[test]
fn a_plugin_that_refuses_its_config_stops_the_start() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    scratch.write("input.jsonl", "{}\n");
    let config = scratch.config(CONFIG.replace(
        "config = { field = \"level\", map = { error = \"errors\", warn = \"warnings,all\" } }",
        "config = { field = \"level\" }",
    ));
    let stderr = run_failing(&scratch);
    assert!(
        stderr.contains("pipeline `main`: plugin `router` refused its configuration: no `map.<value>` entries"),
        "{stderr}"
    );
    let output = sluice().args(["validate", "-c"]).arg(&config).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("refused its configuration"));
}

#[test]
fn a_missing_environment_variable_is_named() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    let config = scratch.config(CONFIG.replace("batch_size = 64", "batch_size = ${SLUICE_TEST_UNSET_VARIABLE}"));
    let stderr = run_failing(&scratch);
    let expected =
        format!("{}: line 39: environment variable `SLUICE_TEST_UNSET_VARIABLE` is not set", config.display());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn a_valid_config_validates() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    let config = scratch.config(CONFIG);
    let output = sluice().args(["validate", "-c"]).arg(&config).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout), format!("{}: ok (1 pipelines)\n", config.display()));
}

#[test]
fn a_plugin_file_that_is_not_a_component_stops_the_start_with_the_reason() {
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.write("plugins/router.wasm", b"definitely not wasm");
    scratch.write("input.jsonl", "{}\n");
    scratch.config(CONFIG);
    let stderr = run_failing(&scratch);
    assert!(
        stderr.contains(&format!("plugin `router` ({})", scratch.path("plugins/router.wasm").display())),
        "{stderr}"
    );
    assert!(stderr.contains("not a WebAssembly file: it does not begin with the bytes 00 61 73 6d"), "{stderr}");
}

#[test]
fn a_missing_plugin_file_is_named() {
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(CONFIG);
    let stderr = run_failing(&scratch);
    assert!(
        stderr.contains(&format!("plugin `router`: cannot read {}", scratch.path("plugins/router.wasm").display())),
        "{stderr}"
    );
}

#[test]
fn a_missing_input_file_is_named_and_no_output_is_created() {
    let scratch = Scratch::with_plugins(&["json-validate", "router"]);
    scratch.config(CONFIG);
    let stderr = run_failing(&scratch);
    assert!(
        stderr.contains(&format!("error: source `input`: cannot open {}", scratch.path("input.jsonl").display())),
        "{stderr}"
    );
}
