//! The file source on a real binary: rotation while following, and lines too long to keep.

use std::io::Write;
use std::time::Duration;

use crate::harness::*;

fn append(path: &std::path::Path, ids: std::ops::Range<u64>) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for id in ids {
        writeln!(file, "{{\"id\":{id}}}").unwrap();
    }
}

fn delivered(scratch: &Scratch) -> Vec<u64> {
    scratch.read_envelopes("out/out.jsonl").iter().map(|e| id_of(value_of(e))).collect()
}

#[test]
fn a_followed_file_rotated_by_rename_loses_and_repeats_nothing() {
    let scratch = Scratch::with_plugins(&[]);
    let input = scratch.path("input.jsonl");
    append(&input, 0..1000);
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.jsonl\"\nfollow = true",
        "[]",
        "type = \"file\"\npath = \"out/out.jsonl\"",
        "default_route = \"out\"\nbatch_wait = \"10ms\"",
    ));
    let mut running = scratch.start();
    running.eventually(Duration::from_secs(30), "the first file delivered", || delivered(&scratch).len() == 1000);

    // logrotate's default: rename, the writer finishes in the old file, then a new file.
    let rotated = scratch.path("input.jsonl.1");
    std::fs::rename(&input, &rotated).unwrap();
    append(&rotated, 1000..1100);
    // Longer than the old file, so that only its identity tells it apart.
    append(&input, 1100..3500);
    running.eventually(Duration::from_secs(30), "both files delivered", || delivered(&scratch).len() >= 3500);
    running.wait_for_log("the file was rotated", Duration::from_secs(5));

    // And once more, removing the old file outright.
    std::fs::remove_file(&rotated).unwrap();
    std::fs::rename(&input, &rotated).unwrap();
    append(&input, 3500..7000);
    running.eventually(Duration::from_secs(30), "the third file delivered", || delivered(&scratch).len() >= 7000);

    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
    assert_eq!(delivered(&scratch), (0..7000).collect::<Vec<_>>(), "every line once, in order");
}

#[test]
fn a_line_longer_than_max_line_bytes_is_dead_lettered_and_the_rest_flows() {
    let scratch = Scratch::with_plugins(&[]);
    let mut text = String::new();
    for id in 0..100u64 {
        match id {
            50 => text.push_str(&format!("{{\"id\":{id},\"pad\":\"{}\"}}\n", "x".repeat(3 << 20))),
            _ => text.push_str(&format!("{{\"id\":{id}}}\n")),
        }
    }
    scratch.write("input.jsonl", text);
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.jsonl\"\nmax_line_bytes = \"64 KiB\"",
        "[]",
        "type = \"file\"\npath = \"out/out.jsonl\"",
        "default_route = \"out\"",
    ));
    let output = scratch.run_to_end();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(delivered(&scratch), (0..100).filter(|&id| id != 50).collect::<Vec<_>>());
    let dead = scratch.read_envelopes("out/dlq.jsonl");
    assert_eq!(dead.len(), 1);
    assert_eq!(value_of(&dead[0]).len(), 64 * 1024, "the first 64 KiB are kept");
    assert!(value_of(&dead[0]).starts_with("{\"id\":50,"));
    let reason = header(&dead[0], "sluice.error").unwrap();
    assert!(
        reason.contains(&format!(
            "the line is {} bytes long, more than the source's max_line_bytes (65536)",
            (3 << 20) + 18
        )),
        "{reason}"
    );
}
