//! The hostile-plugin suite: a plugin that misbehaves on marked records of a large batch
//! costs only those records. Each goes to the dead-letter sink with its own reason, the
//! rest of its batch is delivered in order, the host keeps running, and a pipeline beside
//! it is undisturbed.

use std::time::Duration;

use crate::harness::*;

/// Each marked value, and what its dead letter's reason must say.
const POISON: &[(&str, &str)] = &[
    ("panic", "plugin `misbehave` trapped: wasm trap: wasm `unreachable` instruction executed: "),
    ("hog", "plugin `misbehave`: plugin exceeded its memory limit of 32.0 MiB"),
    ("recurse", "plugin `misbehave` trapped: stack overflow (the wasm stack is limited to 512.0 KiB)"),
    ("spin", "plugin `misbehave` timed out: a call may take at most 1s"),
    ("sleep", "plugin `misbehave` timed out: a call may take at most 1s"),
    ("flood", "plugin `misbehave` returned a malformed result: more than 10000 outputs for one input record"),
    ("giant", "plugin `misbehave` passed the host more than 4.0 MiB in one call or one batch's result"),
    ("noroute", "no route is named `nowhere` in pipeline `main` (routes: out)"),
    ("handles", "plugin `misbehave` tried to hold more than 10000 resource handles at once (its `handles` limit)"),
    ("bigname", "plugin `misbehave` passed the host more than 4.0 MiB in one call or one batch's result"),
    ("reject", "asked to reject"),
];

const BATCH: usize = 600;

/// Checks that the dead letters are exactly the `marked` values, in order, each with a
/// reason that starts as expected; returns the values and reasons.
fn check_dead_letters<'a>(dead: &'a [serde_json::Value], marked: &[(&str, &str)]) -> Vec<(&'a str, &'a str)> {
    let reasons: Vec<(&str, &str)> = dead.iter().map(|d| (value_of(d), header(d, "sluice.error").unwrap())).collect();
    assert_eq!(reasons.len(), marked.len(), "only the marked records are dead-lettered: {reasons:#?}");
    for ((value, reason), (marked, expected)) in reasons.iter().zip(marked) {
        assert_eq!(value, marked);
        assert!(reason.starts_with(expected), "{marked}: {reason}");
    }
    reasons
}

#[test]
fn only_the_records_a_plugin_fails_on_are_dead_lettered_each_with_its_own_reason() {
    let scratch = Scratch::with_plugins(&["misbehave", "passthrough"]);
    // One batch per kind of misbehaviour, the marked record somewhere inside it (each at
    // its own index below `BATCH`), and a
    // batch of legal slowness and noise at the end.
    let mut input = Vec::new();
    for (batch, (poison, _)) in POISON.iter().enumerate() {
        for i in 0..BATCH {
            input.push(if i == 37 + 51 * batch { poison.to_string() } else { format!("r{batch}-{i}") });
        }
    }
    for i in 0..BATCH {
        input.push(match i % 100 {
            7 => "slow".to_owned(),
            50 => "logflood".to_owned(),
            _ => format!("quiet-{i}"),
        });
    }
    scratch.write("input.txt", input.join("\n") + "\n");
    let beside: String = (0..5000).map(|i| format!("b{i}\n")).collect();
    scratch.write("beside.txt", beside);
    let hostile = one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"misbehave\", config = { stderr = \"yes\" } }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        &format!("default_route = \"out\"\nbatch_size = {BATCH}\nbatch_wait = \"1s\""),
    );
    scratch.config(format!(
        "[host]\nplugin_limits = {{ memory = \"32 MiB\", batch_timeout = \"1s\", result_bytes = \"4 MiB\", log_lines = 100 }}\n\n{hostile}\n\
         [sources.beside]\ntype = \"file\"\npath = \"beside.txt\"\n\n[sinks.beside]\ntype = \"file\"\npath = \"out/beside.txt\"\nformat = \"lines\"\n\n\
         [pipelines.beside]\nsource = \"beside\"\nplugins = [{{ name = \"passthrough\" }}]\nroutes = {{ all = [\"beside\"] }}\ndefault_route = \"all\"\ndead_letter = \"dlq\"\n"
    ));
    let mut running = scratch.start();
    assert_eq!(running.wait(Duration::from_secs(120)), Some(0), "{}", running.log());
    let log = running.log();

    let poisoned: Vec<&str> = POISON.iter().map(|(p, _)| *p).collect();
    let expected: Vec<&str> = input.iter().map(String::as_str).filter(|v| !poisoned.contains(v)).collect();
    let out = std::fs::read_to_string(scratch.path("out/out.txt")).unwrap();
    let delivered: Vec<&str> = out.lines().collect();
    if let Some(at) = (0..delivered.len().max(expected.len())).find(|&i| delivered.get(i) != expected.get(i)) {
        panic!(
            "every other record is delivered once, in order; from line {at}: {:?} instead of {:?}; dead letters: {:?}; log: {}",
            &delivered[at.min(delivered.len())..(at + 3).min(delivered.len())],
            &expected[at.min(expected.len())..(at + 3).min(expected.len())],
            scratch
                .read_envelopes("out/dlq.jsonl")
                .iter()
                .map(|d| (value_of(d).to_owned(), header(d, "sluice.error").map(str::to_owned)))
                .collect::<Vec<_>>(),
            log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect::<Vec<_>>().join("\n")
        );
    }

    let dead = scratch.read_envelopes("out/dlq.jsonl");
    let reasons = check_dead_letters(&dead, POISON);
    assert!(reasons[0].1.ends_with("asked to panic"), "a panic's message is quoted: {}", reasons[0].1);
    for (value, reason) in reasons.iter().filter(|(_, r)| r.contains("trapped")) {
        assert_eq!(
            reason.matches("looking at record").count(),
            1,
            "{value}: only what the failing call printed, never an earlier call's output: {reason}"
        );
    }
    for d in dead.iter().filter(|d| value_of(d) != "noroute") {
        assert_eq!(header(d, "sluice.plugin"), Some("misbehave"));
        assert!(header(d, "sluice.plugin.version").is_some());
    }

    let beside = std::fs::read_to_string(scratch.path("out/beside.txt")).unwrap();
    assert_eq!(beside.lines().count(), 5000, "the pipeline beside it delivers everything");
    assert!(log.contains("plugin log lines over its limit for one call were dropped"), "{log}");
    assert!(!log.lines().any(|l| l.starts_with("INFO forged")), "no plugin text forges a host log line");
    assert!(log.contains("fields=\"pipeline=\\\"forged\\\""), "a plugin's fields are quoted as one: {log}");
    assert!(
        !log.contains(" pipeline=\"forged\"") && !log.contains("=pipeline=\"forged\""),
        "no plugin field passes for the host's"
    );
    assert!(log.contains("batch failed; the records that fail alone go to the dead-letter sink"), "{log}");
}

#[test]
fn records_too_wide_for_the_plugin_boundary_are_dead_lettered_as_malformed_at_read() {
    let scratch = Scratch::with_plugins(&["passthrough"]);
    let long_name = "h".repeat(70_000);
    let many: Vec<String> = (0..70_000).map(|i| format!("[\"h{i}\",\"\"]")).collect();
    let lines = [
        "{\"value\":\"first\"}".to_owned(),
        format!("{{\"value\":\"long name\",\"headers\":[[\"{long_name}\",\"x\"]]}}"),
        format!("{{\"value\":\"many headers\",\"headers\":[{}]}}", many.join(",")),
        "{\"value\":\"last\"}".to_owned(),
    ];
    scratch.write("input.jsonl", lines.join("\n") + "\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.jsonl\"\nformat = \"envelope\"",
        "[{ name = \"passthrough\" }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"",
    ));
    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(scratch.path("out/out.txt")).unwrap(), "first\nlast\n");
    let dead = scratch.read_envelopes("out/dlq.jsonl");
    let reasons: Vec<&str> = dead.iter().map(|d| header(d, "sluice.error").unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "source could not decode the record: a header name is 70000 bytes; at most 65535 are allowed",
            "source could not decode the record: the record has 70000 headers; at most 65535 are allowed",
        ]
    );
}

#[test]
fn a_plugin_is_granted_no_environment_files_or_network() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    scratch.write("input.txt", "env\nfile\nsocket\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"misbehave\" }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"",
    ));
    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = std::fs::read_to_string(scratch.path("out/out.txt")).unwrap();
    assert_eq!(out, "env:denied\nfile:denied\nsocket:denied\n");
}

#[test]
fn a_plugin_that_sleeps_in_init_is_stopped_by_its_deadline() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    scratch.write("input.txt", "a\n");
    let pipeline = one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"misbehave\", config = { sleep_init = \"yes\" } }]",
        "type = \"file\"\npath = \"out/out.txt\"",
        "default_route = \"out\"",
    );
    scratch.config(format!("[host]\nplugin_limits = {{ batch_timeout = \"500ms\" }}\n\n{pipeline}"));
    let started = std::time::Instant::now();
    let output = sluice().args(["validate", "-c"]).arg(scratch.path("sluice.toml")).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("plugin `misbehave` timed out: a call may take at most 500ms"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30), "not the plugin's minute: {:?}", started.elapsed());
}

#[test]
fn a_plugin_that_cannot_be_restarted_after_a_failure_dead_letters_its_batch_with_that_reason() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    std::fs::create_dir_all(scratch.path("ctl")).unwrap();
    scratch.write("input.txt", "a\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.txt\"\nfollow = true",
        "[{ name = \"misbehave\", config = { fail_init_if = \"/ctl/refuse\" }, grants = { read_dirs = { \"/ctl\" = \"ctl\" } } }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"\nbatch_wait = \"10ms\"",
    ));
    let running = scratch.start();
    let wait = Duration::from_secs(60);
    eventually(wait, "the first record", || {
        std::fs::read_to_string(scratch.path("out/out.txt")).is_ok_and(|t| t == "a\n")
    });

    // From now on the plugin refuses to start; the running instance is fine until it fails.
    scratch.write("ctl/refuse", "");
    let mut input = std::fs::OpenOptions::new().append(true).open(scratch.path("input.txt")).unwrap();
    std::io::Write::write_all(&mut input, b"panic\nb\n").unwrap();
    eventually(wait, "the batch dead-lettered", || scratch.read_envelopes("out/dlq.jsonl").len() == 2);
    let dead = scratch.read_envelopes("out/dlq.jsonl");
    assert_eq!(dead.iter().map(value_of).collect::<Vec<_>>(), ["panic", "b"]);
    for letter in &dead {
        let reason = header(letter, "sluice.error").unwrap();
        assert!(reason.starts_with("the plugin could not be restarted after a failure: "), "{reason}");
        assert!(reason.contains("asked to fail while /ctl/refuse exists"), "{reason}");
    }
    // Not isolated record by record: one restart attempt for the batch, not one per part.
    assert!(!running.log().contains("batch failed; the records that fail alone"), "{}", running.log());
    running.wait_for_log("the plugin failed on every record of its last batches; pausing", wait);
}

/// What no SDK lets a plugin write, a plugin can still write by hand: bytes that are not
/// UTF-8 where the contract wants a route, a header name, a reason or a log message. Each
/// costs its record only, with a reason that says what was wrong.
#[test]
fn names_and_messages_that_are_not_utf8_cost_only_their_record() {
    const MARKED: &[(&str, &str)] = &[
        ("badroute", "plugin `raw-wire` returned a malformed result: malformed batch encoding: invalid UTF-8 at byte "),
        (
            "badheader",
            "plugin `raw-wire` returned a malformed result: malformed batch encoding: invalid UTF-8 at byte ",
        ),
        (
            "badreason",
            "plugin `raw-wire` returned a malformed result: malformed batch encoding: invalid UTF-8 at byte ",
        ),
        ("badlog", "plugin `raw-wire` trapped: invalid utf-8 sequence of 1 bytes from index 0"),
    ];
    let scratch = Scratch::with_plugins(&["raw-wire"]);
    let input: Vec<String> = (0..BATCH)
        .map(|i| match MARKED.get(i.wrapping_sub(100) / 100).filter(|_| i % 100 == 0) {
            Some((marked, _)) => marked.to_string(),
            None => format!("r{i}"),
        })
        .collect();
    scratch.write("input.txt", input.join("\n") + "\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"raw-wire\" }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        &format!("default_route = \"out\"\nbatch_size = {BATCH}\nbatch_wait = \"1s\""),
    ));
    let output = scratch.run_to_end();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");

    let marked: Vec<&str> = MARKED.iter().map(|(m, _)| *m).collect();
    let expected: Vec<&str> = input.iter().map(String::as_str).filter(|v| !marked.contains(v)).collect();
    let out = std::fs::read_to_string(scratch.path("out/out.txt")).unwrap();
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "every other record is delivered once, in order");
    check_dead_letters(&scratch.read_envelopes("out/dlq.jsonl"), MARKED);
    assert!(!log.contains('\u{fffd}'), "no plugin bytes reach the host log unchecked: {log}");
}

/// Runs `sluice run` on `values` through `misbehave` to the end, with the compiled plugins
/// of `compiled` in its compile cache if given; returns its scratch folder, its log and
/// the peak of its resident memory in MiB (the kernel's, over the whole run, children it
/// reaped included).
fn run_measuring_peak_memory(values: &[&str], compiled: Option<&std::path::Path>) -> (Scratch, String, u64) {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    if let Some(compiled) = compiled {
        std::fs::create_dir_all(scratch.path("data/compiled-plugins")).unwrap();
        for entry in std::fs::read_dir(compiled).unwrap() {
            let entry = entry.unwrap().path();
            std::fs::copy(&entry, scratch.path("data/compiled-plugins").join(entry.file_name().unwrap())).unwrap();
        }
    }
    scratch.write("input.txt", values.join("\n") + "\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"misbehave\" }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"\nbatch_size = 1",
    ));
    let log = std::fs::File::create(scratch.path("sluice.log")).unwrap();
    #[allow(clippy::zombie_processes, reason = "reaped by wait4(2) below, which reports its peak memory")]
    let child = sluice().args(["run", "-c"]).arg(scratch.path("sluice.toml")).stderr(log).spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let (mut status, mut usage) = (0, std::mem::MaybeUninit::<libc::rusage>::zeroed());
    // SAFETY: wait4(2) on our own child, with pointers to a live int and rusage. It reaps
    // the child, which `child` (dropped unwaited) never waits on again.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    // SAFETY: wait4 returned the child, so it filled `usage` in.
    let peak_kib = unsafe { usage.assume_init() }.ru_maxrss as u64;
    let log = std::fs::read_to_string(scratch.path("sluice.log")).unwrap();
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{log}");
    assert_eq!(std::fs::read_to_string(scratch.path("out/out.txt")).unwrap().lines().count(), values.len());
    (scratch, log, peak_kib / 1024)
}

#[test]
fn a_log_call_is_held_to_its_budget_before_its_arguments_are_copied_into_the_host() {
    // The measured runs load `misbehave` from the compile cache: the compiler, a child,
    // would count in their peaks.
    let (warm, _, _) = run_measuring_peak_memory(&["quiet"], None);
    let compiled = warm.path("data/compiled-plugins");
    // `logbomb` names one 4 MiB string in 30 fields: copied, 120 MiB of host memory.
    let (_, log, bombed) = run_measuring_peak_memory(&["logbomb"; 3], Some(&compiled));
    assert!(log.contains("plugin log lines over its limit for one call were dropped"), "{log}");
    let (_, once_log, once) = run_measuring_peak_memory(&["logbomb1"; 3], Some(&compiled));
    for log in [&log, &once_log] {
        assert!(log.contains("origin=Cache"), "compiled nothing: {log}");
    }
    eprintln!("peak resident memory: {bombed} MiB with 30 aliased fields, {once} MiB with one");
    assert!(bombed < once + 32, "the host copied the fields it dropped: {bombed} MiB against {once} MiB");
}
