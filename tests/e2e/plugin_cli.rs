//! `sluice plugin test` and `sluice plugin check` on the example plugins.

use crate::harness::*;

fn plugin_test(plugin: &str, input: &str, config: &[&str]) -> String {
    let scratch = Scratch::with_plugins(&[]);
    let input = scratch.write("input.jsonl", input);
    let mut command = sluice();
    command.args(["plugin", "test"]).arg(built_plugins().join(format!("{plugin}.wasm"))).arg("--input").arg(input);
    for c in config {
        command.args(["--config", c]);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

const INPUT: &str = "{\"id\":1,\"level\":\"error\"}\n{\"id\":2,\"level\":\"info\"}\nnot json\n";

#[test]
fn uppercase() {
    assert_eq!(
        plugin_test("uppercase", INPUT, &[]),
        concat!(
            r#"{"offset":0,"outputs":[{"route":null,"value":"{\"ID\":1,\"LEVEL\":\"ERROR\"}"}]}"#,
            "\n",
            r#"{"offset":1,"outputs":[{"route":null,"value":"{\"ID\":2,\"LEVEL\":\"INFO\"}"}]}"#,
            "\n",
            r#"{"offset":2,"outputs":[{"route":null,"value":"NOT JSON"}]}"#,
            "\n",
        )
    );
}

#[test]
fn a_record_that_traps_fails_alone_as_it_would_in_a_pipeline() {
    let lines = plugin_test("misbehave", "a\npanic\nb\n", &[]);
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines[0], r#"{"offset":0,"outputs":[{"route":null,"value":"a"}]}"#);
    assert!(lines[1].starts_with(r#"{"offset":1,"rejected":"plugin `misbehave` trapped: "#), "{}", lines[1]);
    assert!(lines[1].ends_with(r#"asked to panic"}"#), "{}", lines[1]);
    assert_eq!(lines[2], r#"{"offset":2,"outputs":[{"route":null,"value":"b"}]}"#);
}

#[test]
fn filter() {
    assert_eq!(
        plugin_test("filter", INPUT, &["field=level", "equals=error"]),
        concat!(
            r#"{"offset":0,"outputs":[{"route":null,"value":"{\"id\":1,\"level\":\"error\"}"}]}"#,
            "\n",
            r#"{"offset":1,"outputs":[]}"#,
            "\n",
            r#"{"offset":2,"rejected":"value is not valid JSON: expected ident at line 1 column 2"}"#,
            "\n",
        )
    );
}

#[test]
fn router() {
    assert_eq!(
        plugin_test("router", INPUT, &["field=level", "map.error=errors,alerts"]),
        concat!(
            r#"{"offset":0,"outputs":[{"route":"errors","value":"{\"id\":1,\"level\":\"error\"}"},{"route":"alerts","value":"{\"id\":1,\"level\":\"error\"}"}]}"#,
            "\n",
            r#"{"offset":1,"outputs":[{"route":null,"value":"{\"id\":2,\"level\":\"info\"}"}]}"#,
            "\n",
            r#"{"offset":2,"rejected":"value is not valid JSON: expected ident at line 1 column 2"}"#,
            "\n",
        )
    );
}

#[test]
fn json_validate() {
    assert_eq!(
        plugin_test("json-validate", INPUT, &["require=id,level"]),
        concat!(
            r#"{"offset":0,"outputs":[{"route":null,"value":"{\"id\":1,\"level\":\"error\"}"}]}"#,
            "\n",
            r#"{"offset":1,"outputs":[{"route":null,"value":"{\"id\":2,\"level\":\"info\"}"}]}"#,
            "\n",
            r#"{"offset":2,"rejected":"value is not valid JSON: expected ident at line 1 column 2"}"#,
            "\n",
        )
    );
}

#[test]
fn envelope_input_carries_keys_and_headers_through() {
    let input = r#"{"key":"k1","value":"hi","headers":[["trace","t-1"]],"timestamp":1700000000000}"#;
    let scratch = Scratch::with_plugins(&[]);
    let path = scratch.write("input.jsonl", format!("{input}\n"));
    let output = sluice()
        .args(["plugin", "test"])
        .arg(built_plugins().join("uppercase.wasm"))
        .arg("--input")
        .arg(path)
        .args(["--input-format", "envelope"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "{\"offset\":0,\"outputs\":[{\"route\":null,\"key\":\"k1\",\"value\":\"HI\",\"headers\":[[\"trace\",\"t-1\"]],\"timestamp\":1700000000000}]}\n"
    );
}

#[test]
fn a_refused_config_is_an_error() {
    let scratch = Scratch::with_plugins(&[]);
    let input = scratch.write("input.jsonl", INPUT);
    let output = sluice()
        .args(["plugin", "test"])
        .arg(built_plugins().join("filter.wasm"))
        .arg("--input")
        .arg(input)
        .env("SLUICE_LOG", "warn") // the error alone, without the debug lines of the tests
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim_end(),
        "error: plugin `filter` refused its configuration: missing required config key `field`"
    );
}

#[test]
fn check_describes_a_valid_plugin() {
    let output = sluice().args(["plugin", "check"]).arg(built_plugins().join("misbehave.wasm")).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.starts_with("plugin:  misbehave\nsize:    "), "{stdout}");
    assert!(stdout.contains("exports:\n  sluice:plugin/transform@0.1.0\n"), "{stdout}");
    assert!(stdout.contains("sluice:plugin/host@0.1.0"), "misbehave logs, so it imports the host interface:\n{stdout}");
    assert!(!stdout.contains("NOT PROVIDED"), "{stdout}");
    assert!(stdout.ends_with("verdict: ok, a component of the sluice:plugin/plugin world\n"), "{stdout}");
}

#[test]
fn check_explains_files_that_are_not_plugins() {
    let scratch = Scratch::with_plugins(&[]);
    // A core module (the smallest valid one), not a component.
    let core = scratch.write("core.wasm", b"\0asm\x01\0\0\0");
    let output = sluice().args(["plugin", "check"]).arg(&core).output().unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("core WebAssembly module, not a component"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let junk = scratch.write("junk.wasm", b"hello");
    let output = sluice().args(["plugin", "check"]).arg(&junk).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a WebAssembly file: it does not begin with the bytes 00 61 73 6d"), "{stderr}");
}

#[test]
fn a_second_test_of_the_same_file_loads_it_from_the_compile_cache() {
    let scratch = Scratch::with_plugins(&[]);
    let input = scratch.write("input.jsonl", INPUT);
    let run = || {
        let output = sluice()
            .args(["plugin", "test"])
            .arg(built_plugins().join("uppercase.wasm"))
            .arg("--input")
            .arg(&input)
            .env("SLUICE_COMPILE_CACHE", scratch.path("cache"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stderr).unwrap()
    };
    assert!(run().contains("origin=Compiled"));
    assert_eq!(std::fs::read_dir(scratch.path("cache")).unwrap().count(), 1);
    assert!(run().contains("origin=Cache"));
}

/// What `plugin test` (or `plugin build`) compiled, `run` of the same user loads from the
/// user's cache and keeps in its `data_dir`; a user's cache that others may write is not
/// used.
#[test]
fn run_does_not_compile_again_what_plugin_test_compiled() {
    let scratch = Scratch::with_plugins(&["uppercase"]);
    let input = scratch.write("input.txt", "a\nb\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"uppercase\" }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"",
    ));
    let output = sluice()
        .args(["plugin", "test"])
        .arg(scratch.path("plugins/uppercase.wasm"))
        .arg("--input")
        .arg(&input)
        .env("SLUICE_COMPILE_CACHE", scratch.path("user-cache"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("origin=Compiled"));
    let run = || {
        std::fs::remove_dir_all(scratch.path("data/sources")).ok();
        let output = scratch.run_to_end();
        let log = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{log}");
        assert_eq!(std::fs::read_to_string(scratch.path("out/out.txt")).unwrap(), "A\nB\n");
        std::fs::remove_file(scratch.path("out/out.txt")).unwrap();
        log.lines().find(|l| l.contains("plugin loaded")).unwrap().to_owned()
    };
    assert!(run().contains("origin=UserCache"), "loaded from what `plugin test` compiled");
    assert!(run().contains("origin=Cache"), "and kept in data_dir");

    std::fs::remove_dir_all(scratch.path("data/compiled-plugins")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(scratch.path("user-cache"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = scratch.run_to_end();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("origin=Compiled") && log.contains("others may write its directory (mode 777"), "{log}");
}

/// `--show logs,metrics` prints each record's log lines and the metrics' totals, and an
/// expectation that holds them checks them.
#[test]
fn test_shows_and_checks_a_plugins_logs_and_metrics() {
    let scratch = Scratch::with_plugins(&[]);
    let input = scratch.write("input.txt", "a\npanic\nb\n");
    let test = |extra: &[&str]| {
        let mut command = sluice();
        command.args(["plugin", "test"]).arg(built_plugins().join("misbehave.wasm")).arg("--input").arg(&input);
        command.args(["--config", "log=yes"]).args(extra).output().unwrap()
    };
    let output = test(&["--show", "logs,metrics"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let seen =
        |offset| format!(r#""logs":[{{"level":"info","message":"record seen","fields":{{"offset":"{offset}"}}}}]"#);
    assert_eq!(lines[0], format!(r#"{{"offset":0,"outputs":[{{"route":null,"value":"a"}}],{}}}"#, seen(0)));
    assert!(lines[1].starts_with(r#"{"offset":1,"rejected":"plugin `misbehave` trapped: "#), "{}", lines[1]);
    assert!(lines[1].ends_with(r#","logs":[]}"#), "the call that failed alone logged nothing: {}", lines[1]);
    assert_eq!(lines[2], format!(r#"{{"offset":2,"outputs":[{{"route":null,"value":"b"}}],{}}}"#, seen(2)));
    assert_eq!(lines[3], r#"{"metrics":{"counters":{"records_seen":2},"gauges":{}}}"#);
    assert_eq!(lines.len(), 4);

    // Saved as the expectation (the rejection by its beginning), it holds; with another
    // total it does not, and says so.
    let expected = format!(
        "{}\n{{\"offset\":1,\"rejected\":\"plugin `misbehave` trapped\",\"logs\":[]}}\n{}\n{}\n",
        lines[0], lines[2], lines[3]
    );
    let file = scratch.write("expected.jsonl", &expected);
    let output = test(&["--expect", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    std::fs::write(&file, expected.replace(r#""records_seen":2"#, r#""records_seen":3"#)).unwrap();
    let output = test(&["--expect", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.trim_end().ends_with("and the metrics do"), "{stderr}");

    // Without logs the records go in one call, which fails and is isolated: only the
    // calls whose results were used count, so the total is the same.
    let records: String = [
        r#"{"offset":0,"outputs":[{"route":null,"value":"a"}]}"#,
        r#"{"offset":1,"rejected":"plugin `misbehave` trapped"}"#,
        r#"{"offset":2,"outputs":[{"route":null,"value":"b"}]}"#,
    ]
    .map(|l| format!("{l}\n"))
    .concat();
    std::fs::write(&file, format!("{records}{}\n", lines[3])).unwrap();
    let output = test(&["--expect", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}
