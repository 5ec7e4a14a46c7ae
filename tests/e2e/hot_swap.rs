//! Replacing a plugin file while the host runs switches behaviour without a restart; a
//! broken file never replaces a working version; no record is lost, repeated or reordered.

use std::io::Write;
use std::time::Duration;

use crate::harness::*;

fn config() -> String {
    one_pipeline(
        "type = \"file\"\npath = \"input.txt\"\nfollow = true",
        "[{ name = \"transform\" }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"\nbatch_size = 16\nbatch_wait = \"10ms\"",
    )
}

fn append(scratch: &Scratch, lines: impl IntoIterator<Item = String>) {
    let mut file = std::fs::OpenOptions::new().append(true).open(scratch.path("input.txt")).unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

/// Writes `bytes` as `plugins/transform.wasm` the way a deploy should: to a temporary
/// name, renamed into place.
fn replace_transform(scratch: &Scratch, bytes: &[u8]) {
    scratch.write("plugins/.transform.tmp", bytes);
    std::fs::rename(scratch.path("plugins/.transform.tmp"), scratch.path("plugins/transform.wasm")).unwrap();
}

fn output_lines(scratch: &Scratch) -> Vec<String> {
    let text = std::fs::read_to_string(scratch.path("out/out.txt")).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

#[test]
fn a_new_plugin_file_takes_over_and_a_broken_one_is_refused() {
    let scratch = Scratch::with_plugins(&[]);
    scratch.install_plugin("passthrough", "transform");
    scratch.write("input.txt", "");
    scratch.config(config());
    let running = scratch.start();
    let wait = Duration::from_secs(60);

    append(&scratch, (0..50).map(|i| format!("a{i}")));
    eventually(wait, "first lines", || output_lines(&scratch).len() == 50);
    assert!(output_lines(&scratch).iter().all(|l| l.starts_with('a')));

    scratch.install_plugin("uppercase", "transform");
    running.wait_for_log("it takes over at the next batch", wait);
    append(&scratch, (0..50).map(|i| format!("b{i}")));
    eventually(wait, "lines after the swap", || output_lines(&scratch).len() == 100);
    assert!(output_lines(&scratch)[50..].iter().all(|l| l.starts_with('B')), "{:?}", output_lines(&scratch));

    // Not a component at all: rejected, the running version stays.
    scratch.write("plugins/transform.wasm", b"\0asm garbage");
    running.wait_for_log("new plugin file rejected; the running version stays", wait);
    // A component whose init refuses this pipeline's (empty) config: never takes over.
    scratch.install_plugin("filter", "transform");
    running.wait_for_log("new plugin version failed to start; the previous version keeps running", wait);
    append(&scratch, (0..50).map(|i| format!("c{i}")));
    eventually(wait, "lines after the refused versions", || output_lines(&scratch).len() == 150);
    assert!(output_lines(&scratch)[100..].iter().all(|l| l.starts_with('C')), "{:?}", output_lines(&scratch));
    assert!(scratch.read_envelopes("out/dlq.jsonl").is_empty());
}

/// The version `sluice` gives the built plugin `name`: its file's SHA-256, 12 hex digits.
fn version_of(name: &str) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(built_plugins().join(format!("{name}.wasm"))).unwrap();
    sha2::Sha256::digest(bytes).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_refused_file_is_reported_once_in_one_line_naming_the_version_that_really_runs() {
    let scratch = Scratch::with_plugins(&[]);
    scratch.install_plugin("passthrough", "transform");
    scratch.write("input.txt", "");
    scratch.config(format!("[host]\nstatus_interval = \"100ms\"\n\n{}", config()));
    let running = scratch.start();
    let wait = Duration::from_secs(60);
    running.wait_for_log("sluice is running", wait);
    let rejections = || {
        let log = running.log();
        log.lines().filter(|l| l.contains("new plugin file rejected")).map(str::to_owned).collect::<Vec<_>>()
    };

    // A version whose init refuses the (empty) config is published, and never runs.
    scratch.install_plugin("filter", "transform");
    running.wait_for_log("new plugin version failed to start", wait);
    replace_transform(&scratch, b"not a plugin");
    eventually(wait, "the refusal", || rejections().len() == 1);
    let refusal = &rejections()[0];
    assert!(refusal.contains(&format!("running={}", version_of("passthrough"))), "{refusal}");
    assert!(refusal.contains("not a WebAssembly file: it does not begin with the bytes 00 61 73 6d"), "{refusal}");

    // The same contents again: not compiled, not reported. Then a WebAssembly header with
    // garbage after it, which Wasmtime's parser refuses: reported once, on one line.
    replace_transform(&scratch, b"not a plugin");
    running.wait_for_log("plugin file unchanged since it was rejected", wait);
    replace_transform(&scratch, b"\0asm\x0d\0\x01\0garbage");
    eventually(wait, "the second refusal", || rejections().len() == 2);
    let refusal = &rejections()[1];
    assert!(refusal.contains("not a valid WebAssembly component") && !refusal.contains("\\n"), "{refusal}");

    // A version ready with no record to take over at says so, and the status counts it.
    scratch.install_plugin("uppercase", "transform");
    running.wait_for_log("new plugin version ready; it takes over at the next batch", wait);
    let status_after = |marker: &str, pending: &str| {
        let log = running.log();
        log.find(marker)
            .is_some_and(|at| log[at..].lines().any(|l| l.contains("pipeline status") && l.contains(pending)))
    };
    eventually(wait, "a status line counting the version", || {
        status_after("it takes over at the next", "versions_pending=1")
    });
    append(&scratch, ["a".to_owned()]);
    eventually(wait, "the line through the new version", || output_lines(&scratch) == ["A"]);
    eventually(wait, "a status line after the swap", || status_after("plugin swapped", "versions_pending=0"));
    replace_transform(&scratch, b"still not a plugin");
    eventually(wait, "the third refusal", || rejections().len() == 3);
    assert!(rejections()[2].contains(&format!("running={}", version_of("uppercase"))), "{}", rejections()[2]);
}

#[test]
fn swapping_under_load_loses_repeats_and_reorders_nothing() {
    let scratch = Scratch::with_plugins(&[]);
    scratch.install_plugin("passthrough", "transform");
    scratch.write("input.txt", "");
    scratch.config(config());
    let running = scratch.start();
    running.wait_for_log("sluice is running", Duration::from_secs(60));

    // The writer appends lines until told to stop; meanwhile the plugin is swapped back
    // and forth, each swap awaited, so swaps land mid-stream however slow the machine is.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let path = scratch.path("input.txt");
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            let mut written = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..50 {
                    writeln!(file, "line{written}").unwrap();
                    written += 1;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            written
        })
    };
    for swap in 0..4 {
        let next = if swap % 2 == 0 { "uppercase" } else { "passthrough" };
        scratch.install_plugin(next, "transform");
        eventually(Duration::from_secs(120), "the swap to take effect", || {
            running.log().matches("plugin swapped").count() > swap
        });
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total = writer.join().unwrap();
    eventually(Duration::from_secs(60), "every line written", || output_lines(&scratch).len() >= total);
    let lines = output_lines(&scratch);
    assert_eq!(lines.len(), total, "records were repeated");
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line.to_lowercase(), format!("line{i}"), "record {i} is missing or out of order");
    }
    let upper = lines.iter().filter(|l| l.starts_with("LINE")).count();
    assert!(upper > 0 && upper < total, "both versions should have processed records ({upper} of {total} upper-cased)");
}

#[test]
fn a_restart_loads_compiled_plugins_from_data_dir_and_rebuilds_a_corrupt_one() {
    let scratch = Scratch::with_plugins(&["uppercase"]);
    scratch.write("input.txt", "a\nb\n");
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.txt\"",
        "[{ name = \"uppercase\" }]",
        "type = \"file\"\npath = \"out/out.txt\"\nformat = \"lines\"",
        "default_route = \"out\"",
    ));
    let run = || {
        std::fs::remove_dir_all(scratch.path("data/sources")).ok();
        std::fs::remove_file(scratch.path("out/out.txt")).ok();
        let output = scratch.run_to_end();
        let log = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{log}");
        assert_eq!(std::fs::read_to_string(scratch.path("out/out.txt")).unwrap(), "A\nB\n");
        log
    };
    assert!(run().contains("origin=Compiled"));
    assert!(run().contains("origin=Cache"), "the second start does not compile");

    let entries: Vec<_> = std::fs::read_dir(scratch.path("data/compiled-plugins")).unwrap().collect();
    assert_eq!(entries.len(), 1);
    let entry = entries.into_iter().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&entry, bytes).unwrap();
    let log = run();
    assert!(log.contains("its checksum does not match its contents") && log.contains("origin=Compiled"), "{log}");
    assert!(run().contains("origin=Cache"), "the rebuilt entry is used");
}

fn dead_values(scratch: &Scratch) -> Vec<String> {
    scratch.read_envelopes("out/dlq.jsonl").iter().map(|e| value_of(e).to_owned()).collect()
}

/// `config()` with the plugin given `panic_always`, which `misbehave` obeys (a release
/// that fails on every record) and `passthrough` ignores.
fn broken_release_config(rollback_after: u32) -> String {
    config().replace(
        "[{ name = \"transform\" }]",
        &format!(
            "[{{ name = \"transform\", rollback_after = {rollback_after}, config = {{ panic_always = \"yes\" }} }}]"
        ),
    )
}

#[test]
fn a_new_version_that_fails_its_first_batches_is_rolled_back() {
    let scratch = Scratch::with_plugins(&[]);
    scratch.install_plugin("passthrough", "transform");
    scratch.write("input.txt", "");
    scratch.config(broken_release_config(3));
    let mut running = scratch.start();
    let wait = Duration::from_secs(60);
    append(&scratch, (0..20).map(|i| format!("a{i}")));
    eventually(wait, "first lines", || output_lines(&scratch).len() == 20);

    scratch.install_plugin("misbehave", "transform");
    running.wait_for_log("it takes over at the next batch", wait);
    // Groups of lines, each waited for, until the broken version is rolled back.
    let mut groups = 0;
    while !running.log().contains("rolled back to the previous version") {
        assert!(groups < 10, "no rollback after {groups} groups: {}", running.log());
        append(&scratch, (0..16).map(|i| format!("b{groups}-{i}")));
        groups += 1;
        let expected = 20 + 16 * groups;
        eventually(wait, "the group delivered", || {
            output_lines(&scratch).len() + dead_values(&scratch).len() == expected
        });
    }
    let log = running.log();
    let rollback = log.lines().find(|l| l.contains("rolled back to the previous version")).unwrap();
    assert!(rollback.contains("batches=3"), "after its first 3 batches: {rollback}");
    let dead = scratch.read_envelopes("out/dlq.jsonl");
    assert!(!dead.is_empty());
    assert!(dead.iter().all(|d| header(d, "sluice.error").unwrap().contains("asked to panic on every record")));

    // The previous version runs again.
    append(&scratch, (0..20).map(|i| format!("c{i}")));
    eventually(wait, "lines after the rollback", || {
        output_lines(&scratch).iter().filter(|l| l.starts_with('c')).count() == 20
    });
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(wait), Some(0), "{}", running.log());
    assert!(running.log().contains("rollbacks=1"), "the status says so: {}", running.log());
    // Every line once, in the output or the dead-letter file.
    let mut all: Vec<String> = output_lines(&scratch).into_iter().chain(dead_values(&scratch)).collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!((all.len(), before), (20 + 16 * groups + 20, 20 + 16 * groups + 20));
}

#[test]
fn a_plugin_that_fails_every_record_is_paused_between_batches() {
    let scratch = Scratch::with_plugins(&[]);
    scratch.install_plugin("misbehave", "transform");
    scratch.write("input.txt", "");
    scratch.config(broken_release_config(0));
    let running = scratch.start();
    let wait = Duration::from_secs(60);
    for group in 1..=3 {
        append(&scratch, (0..16).map(|i| format!("x{group}-{i}")));
        eventually(wait, "the group dead-lettered", || dead_values(&scratch).len() == 16 * group);
    }
    running.wait_for_log("the plugin failed on every record of its last batches; pausing", wait);
    assert!(running.log().contains("batches=3"), "the streak is counted: {}", running.log());
    assert!(output_lines(&scratch).is_empty());
}

/// A host asked to stop does not wait out a failing plugin's backoff pause: it ends the
/// pause, drains what it read (dead-lettered, as every record fails) and exits.
#[test]
fn stopping_ends_a_backoff_pause() {
    let scratch = Scratch::with_plugins(&["misbehave"]);
    scratch.config(small_batches_of_a_broken_release("misbehave"));
    let mut running = scratch.start();
    // The sixth failing batch in a row pauses for 3.2 s.
    running.wait_for_log("batches=6 pause=3.2s", Duration::from_secs(60));
    running.signal(libc::SIGTERM);
    assert_eq!(
        running.wait(Duration::from_millis(1500)),
        Some(0),
        "the host waited out the pause instead of stopping: {}",
        running.log()
    );
    assert!(running.log().contains("stopped cleanly"), "{}", running.log());
}

/// A new version ends a backoff pause: the fix for a failing plugin is not held back by
/// the pauses the failing one earned. (The fix is a version the host compiled before, so
/// that it loads from the compile cache and the test times the pause, not Cranelift.)
#[test]
fn a_new_version_ends_a_backoff_pause() {
    let scratch = Scratch::with_plugins(&[]);
    scratch.install_plugin("passthrough", "transform");
    scratch.config(small_batches_of_a_broken_release("transform"));
    let running = scratch.start();
    let wait = Duration::from_secs(60);
    eventually(wait, "records through the first version", || !scratch.read_envelopes("out/out.jsonl").is_empty());
    scratch.install_plugin("misbehave", "transform");
    // The sixth failing batch in a row pauses for 3.2 s; the good version comes back.
    running.wait_for_log("batches=6 pause=3.2s", wait);
    scratch.install_plugin("passthrough", "transform");
    let delivered = scratch.read_envelopes("out/out.jsonl").len();
    eventually(wait, "the good version loaded again", || {
        running.log().lines().filter(|l| l.contains("new plugin version compiled")).count() == 2
    });
    let log = running.log();
    let reloaded = log.lines().filter(|l| l.contains("new plugin version compiled")).nth(1).unwrap();
    assert!(reloaded.contains("origin=Cache"), "{reloaded}");
    eventually(Duration::from_millis(1500), "records delivered again before the pause is over", || {
        scratch.read_envelopes("out/out.jsonl").len() > delivered
    });
}

/// Generated records in batches of four through `plugin`, given `panic_always`, never
/// rolled back: failing batches follow each other fast enough to reach long pauses.
fn small_batches_of_a_broken_release(plugin: &str) -> String {
    one_pipeline(
        "type = \"generator\"\nrate = 200.0",
        &format!("[{{ name = \"{plugin}\", rollback_after = 0, config = {{ panic_always = \"yes\" }} }}]"),
        "type = \"file\"\npath = \"out/out.jsonl\"",
        "default_route = \"out\"\nbatch_size = 4\nbatch_wait = \"10ms\"",
    )
}

/// A plugin file replaced after the plugins were loaded but before the directory was
/// watched (a fail point holds the host there for a while) still takes over.
#[cfg(feature = "failpoints")]
#[test]
fn a_plugin_file_replaced_during_start_up_takes_over() {
    let scratch = Scratch::with_plugins(&[]);
    scratch.install_plugin("passthrough", "transform");
    scratch.write("input.txt", "");
    scratch.config(config());
    let running = Running::spawn(
        sluice()
            .args(["run", "-c"])
            .arg(scratch.path("sluice.toml"))
            .env("FAILPOINTS", "before-plugin-watch=sleep(3000)")
            .stdout(std::process::Stdio::null()),
    );
    let wait = Duration::from_secs(60);
    running.wait_for_log("plugin loaded", wait);
    scratch.install_plugin("uppercase", "transform");
    running.wait_for_log("it takes over at the next batch", wait);
    append(&scratch, (0..20).map(|i| format!("a{i}")));
    running.eventually(wait, "the lines", || output_lines(&scratch).len() == 20);
    assert!(output_lines(&scratch).iter().all(|l| l.starts_with('A')), "{:?}", output_lines(&scratch));
}

/// A component of one core module with `functions` functions of `instructions` additions
/// each: valid, useless (it exports nothing), and as costly to compile as its size.
fn costly_component(functions: usize, instructions: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            match n {
                0 => return out.push(byte),
                _ => out.push(byte | 0x80),
            }
        }
    }
    fn section(id: u8, payload: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(payload.len(), out);
        out.extend_from_slice(payload);
    }
    // (func (param i32) (result i32) local.get 0 i32.const 1 i32.add local.set 0 … local.get 0)
    let mut body = vec![0]; // no locals beyond the parameter
    for _ in 0..instructions {
        body.extend_from_slice(&[0x20, 0x00, 0x41, 0x01, 0x6a, 0x21, 0x00]);
    }
    body.extend_from_slice(&[0x20, 0x00, 0x0b]);
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 1, 0x7f, 1, 0x7f], &mut module);
    let mut declared = Vec::new();
    leb(functions, &mut declared);
    declared.extend(std::iter::repeat_n(0, functions));
    section(3, &declared, &mut module);
    let mut code = Vec::new();
    leb(functions, &mut code);
    for _ in 0..functions {
        leb(body.len(), &mut code);
        code.extend_from_slice(&body);
    }
    section(10, &code, &mut module);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, &module, &mut component);
    component
}

/// The processes whose parent is `pid`, zombies included, as `(pid, command)`.
fn children(pid: u32) -> Vec<(String, String)> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `PID (COMMAND) STATE PPID …`; the command may hold spaces and parentheses.
        let Some((head, rest)) = stat.rsplit_once(") ") else { continue };
        if rest.split(' ').nth(1) == Some(&pid.to_string()) {
            children.push((entry.file_name().to_string_lossy().into_owned(), head.to_owned()));
        }
    }
    children
}

/// Starts `transform` (passthrough) under `[host] plugin_compile = {limits}`, installs
/// `file` as its new version, and checks that it is refused saying `why`, that the
/// compiler is gone, and that the running version goes on.
fn refused_at_compile(limits: &str, file: &[u8], why: &str) {
    let scratch = Scratch::with_plugins(&[]);
    scratch.install_plugin("passthrough", "transform");
    scratch.write("input.txt", "");
    scratch.config(format!("[host]\nplugin_compile = {{ {limits} }}\n\n{}", config()));
    let running = scratch.start();
    let wait = Duration::from_secs(120);
    running.wait_for_log("sluice is running", wait);
    assert!(
        children(std::process::id()).iter().any(|(pid, _)| *pid == running.child.id().to_string()),
        "children are seen"
    );

    replace_transform(&scratch, file);
    running.wait_for_log("new plugin file rejected; the running version stays", wait);
    let log = running.log();
    let rejected = log.lines().find(|l| l.contains("new plugin file rejected")).unwrap();
    assert!(rejected.contains(why), "{rejected}");
    assert_eq!(children(running.child.id()), [], "the compiler was stopped and reaped");

    append(&scratch, (0..20).map(|i| format!("a{i}")));
    eventually(wait, "lines through the running version", || output_lines(&scratch).len() == 20);
}

#[test]
fn a_plugin_file_too_large_to_read_or_to_compile_in_memory_is_refused_and_the_running_version_stays() {
    let limits = "memory = \"512 MiB\", file_size = \"8 MiB\"";
    // 7 MB that need some 1.3 GB to compile.
    refused_at_compile(limits, &costly_component(10, 100_000), "compiling it needed more memory than 512.0 MiB");
    refused_at_compile(limits, &vec![0; 9 << 20], "the file is larger than 8.0 MiB");
}

#[test]
fn a_plugin_file_that_takes_too_long_to_compile_is_refused_and_the_running_version_stays() {
    // 7 MB that take some 13 s to compile on one core.
    refused_at_compile("timeout = \"2s\"", &costly_component(10, 100_000), "compiling it took longer than 2s");
}
