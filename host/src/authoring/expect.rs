//! `sluice plugin test --expect FILE`: compares what a plugin did with the records of
//! a test input against what its author expects, so that a plugin's own CI fails on a
//! change of behaviour, with a diff a person can read.
//!
//! The expectations are the JSON lines `plugin test` prints, one per input record: run
//! it once, check the output, and save it as the expectation. Each line is compared as
//! JSON (key order and spacing do not matter), with one allowance: an expected
//! `"rejected"` reason matches any reason that starts with it, so that a test can pin
//! the part of a message it cares about (`"value is not valid JSON"`) and not the
//! parser's wording after it, which differs between languages and versions.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// How the plugin's lines compared with the expected ones.
pub struct Comparison {
    /// Records compared.
    pub records: usize,
    /// A readable account of every difference; empty when there is none.
    pub diff: String,
}

impl Comparison {
    pub fn matches(&self) -> bool {
        self.diff.is_empty()
    }
}

/// Compares `actual` (the JSON lines `plugin test` wrote) with the expectations in
/// `expected`, read from the file at `path`.
pub fn compare(actual: &str, expected: &str, path: &Path) -> anyhow::Result<Comparison> {
    let mut wanted = Vec::new();
    for (index, line) in expected.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not a JSON line", path.display(), index + 1))?;
        wanted.push((index + 1, line.trim(), value));
    }
    let got: Vec<(&str, Value)> =
        actual.lines().map(|l| (l, serde_json::from_str(l).expect("plugin test writes JSON lines"))).collect();

    let mut diff = String::new();
    let mut differing = 0;
    for (i, (line, text, want)) in wanted.iter().enumerate() {
        match got.get(i) {
            Some((_, have)) if matches(want, have) => {}
            Some((have, _)) => {
                differing += 1;
                let _ = writeln!(diff, "record {} ({}:{line}):", i + 1, path.display());
                let _ = writeln!(diff, "  expected: {text}\n  actual:   {have}");
            }
            None => {
                differing += 1;
                let _ = writeln!(
                    diff,
                    "record {} ({}:{line}): expected {text}, but the input has no such record",
                    i + 1,
                    path.display()
                );
            }
        }
    }
    for (i, (have, _)) in got.iter().enumerate().skip(wanted.len()) {
        differing += 1;
        let _ = writeln!(diff, "record {}: not in {}, the plugin gave {have}", i + 1, path.display());
    }
    if differing > 0 {
        let records = got.len().max(wanted.len());
        let _ = write!(diff, "{differing} of {records} records differ from {}", path.display());
    }
    Ok(Comparison { records: got.len(), diff })
}

/// Whether an expected line matches an actual one: equal as JSON, except that an
/// expected rejection reason only has to begin the actual one.
fn matches(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(want), Value::Object(have)) if want.len() == have.len() => want.iter().all(|(key, w)| {
            let Some(h) = have.get(key) else { return false };
            match (key.as_str(), w, h) {
                ("rejected", Value::String(w), Value::String(h)) => h.starts_with(w.as_str()),
                _ => w == h,
            }
        }),
        _ => want == have,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compare_lines(actual: &str, expected: &str) -> Comparison {
        compare(actual, expected, Path::new("expected.jsonl")).unwrap()
    }

    #[test]
    fn equal_json_in_any_key_order_and_spacing_matches() {
        let actual = "{\"offset\":0,\"outputs\":[{\"route\":null,\"value\":\"A\"}]}\n";
        let c = compare_lines(actual, "{ \"outputs\": [{\"value\": \"A\", \"route\": null}], \"offset\": 0 }\n\n");
        assert!(c.matches(), "{}", c.diff);
        assert_eq!(c.records, 1);
    }

    #[test]
    fn a_rejection_reason_matches_by_its_beginning_only() {
        let actual = "{\"offset\":0,\"rejected\":\"value is not valid JSON: expected ident at line 1 column 2\"}\n";
        assert!(compare_lines(actual, "{\"offset\":0,\"rejected\":\"value is not valid JSON\"}").matches());
        let c = compare_lines(actual, "{\"offset\":0,\"rejected\":\"record has no value\"}");
        assert_eq!(
            c.diff,
            "record 1 (expected.jsonl:1):\n  expected: {\"offset\":0,\"rejected\":\"record has no value\"}\n  actual:   {\"offset\":0,\"rejected\":\"value is not valid JSON: expected ident at line 1 column 2\"}\n1 of 1 records differ from expected.jsonl"
        );
        // An output is not a rejection, whatever it holds.
        let c = compare_lines("{\"offset\":0,\"outputs\":[]}", "{\"offset\":0,\"rejected\":\"\"}");
        assert!(!c.matches());
    }

    #[test]
    fn missing_and_extra_records_are_differences() {
        let line = |n| format!("{{\"offset\":{n},\"outputs\":[]}}\n");
        let c = compare_lines(&line(0), &(line(0) + &line(1)));
        assert!(
            c.diff.contains(
                "record 2 (expected.jsonl:2): expected {\"offset\":1,\"outputs\":[]}, but the input has no such record"
            ),
            "{}",
            c.diff
        );
        let c = compare_lines(&(line(0) + &line(1)), &line(0));
        assert!(
            c.diff.starts_with("record 2: not in expected.jsonl, the plugin gave {\"offset\":1,\"outputs\":[]}\n"),
            "{}",
            c.diff
        );
        assert!(c.diff.ends_with("1 of 2 records differ from expected.jsonl"), "{}", c.diff);
    }

    #[test]
    fn an_expectation_that_is_not_json_names_its_line() {
        let err = compare("", "{\"offset\":0,\"outputs\":[]}\nnope\n", Path::new("e.jsonl")).err().unwrap();
        assert_eq!(format!("{err}"), "e.jsonl:2: not a JSON line");
    }
}
