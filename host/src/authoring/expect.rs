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
//!
//! Logs and metrics (`plugin test --show`) are checked where the expectations hold them:
//! a record line with `"logs"` compares the record's log lines, and a last line
//! `{"metrics": …}` the totals; an expectation without them says nothing about them.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use super::test::Show;

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

/// What the expectations in `expected` (read from `path`) check besides outputs and
/// rejections, so that `plugin test` shows it.
pub fn shows(expected: &str, path: &Path) -> anyhow::Result<Show> {
    let lines = expectations(expected, path)?;
    let logs = lines.iter().any(|(_, _, line)| line.get("logs").is_some());
    let metrics = lines.iter().any(|(_, _, line)| is_metrics(line));
    Ok(Show { logs, metrics })
}

/// The JSON lines of `expected`, with their line numbers and text.
fn expectations<'e>(expected: &'e str, path: &Path) -> anyhow::Result<Vec<(usize, &'e str, Value)>> {
    let mut wanted = Vec::new();
    for (index, line) in expected.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not a JSON line", path.display(), index + 1))?;
        wanted.push((index + 1, line.trim(), value));
    }
    Ok(wanted)
}

/// The line of metrics totals, which is no record's.
fn is_metrics(line: &Value) -> bool {
    line.get("metrics").is_some() && line.get("offset").is_none()
}

/// Compares `actual` (the JSON lines `plugin test` wrote) with the expectations in
/// `expected`, read from the file at `path`.
pub fn compare(actual: &str, expected: &str, path: &Path) -> anyhow::Result<Comparison> {
    let (wanted, wanted_metrics): (Vec<_>, Vec<_>) =
        expectations(expected, path)?.into_iter().partition(|(_, _, line)| !is_metrics(line));
    let (got, got_metrics): (Vec<(&str, Value)>, Vec<_>) = actual
        .lines()
        .map(|l| (l, serde_json::from_str(l).expect("plugin test writes JSON lines")))
        .partition(|(_, line)| !is_metrics(line));

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
    let mut metrics_differ = false;
    if let Some((line, text, want)) = wanted_metrics.last() {
        let have = got_metrics.last();
        if have.is_none_or(|(_, have)| !same(want, have)) {
            metrics_differ = true;
            let have = have.map_or("nothing", |(text, _)| text);
            let _ = writeln!(diff, "metrics ({}:{line}):\n  expected: {text}\n  actual:   {have}", path.display());
        }
    }
    if differing > 0 || metrics_differ {
        let records = got.len().max(wanted.len());
        let _ = write!(diff, "{differing} of {records} records differ from {}", path.display());
        if metrics_differ {
            let _ = write!(diff, ", and the metrics do");
        }
    }
    Ok(Comparison { records: got.len(), diff })
}

/// Whether two JSON values are equal, numbers by their value (`1` is `1.0`: a gauge is
/// a float, and an author writes `1`).
fn same(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Number(w), Value::Number(h)) => w.as_f64() == h.as_f64(),
        (Value::Object(w), Value::Object(h)) => {
            w.len() == h.len() && w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| same(v, hv)))
        }
        (Value::Array(w), Value::Array(h)) => w.len() == h.len() && w.iter().zip(h).all(|(w, h)| same(w, h)),
        _ => want == have,
    }
}

/// Whether an expected line matches an actual one: equal as JSON, except that an
/// expected rejection reason only has to begin the actual one.
fn matches(want: &Value, have: &Value) -> bool {
    // Logs shown for other lines are not this line's expectation's business.
    let shown = |have: &serde_json::Map<String, Value>| {
        have.len() - usize::from(have.contains_key("logs") && want.get("logs").is_none())
    };
    match (want, have) {
        (Value::Object(want), Value::Object(have)) if want.len() == shown(have) => want.iter().all(|(key, w)| {
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
    fn logs_and_metrics_are_compared_where_the_expectations_hold_them() {
        let logs = r#""logs":[{"level":"info","message":"masked","fields":{"n":"2"}}]"#;
        let actual = format!(
            "{{\"offset\":0,\"outputs\":[],{logs}}}\n{{\"offset\":1,\"outputs\":[],\"logs\":[]}}\n{{\"metrics\":{{\"counters\":{{\"masked\":2}},\"gauges\":{{}}}}}}\n"
        );
        let records = "{\"offset\":0,\"outputs\":[]}\n{\"offset\":1,\"outputs\":[]}\n";
        assert!(compare_lines(&actual, records).matches(), "no logs or metrics expected");
        let expected = format!("{{\"offset\":0,\"outputs\":[],{logs}}}\n{{\"offset\":1,\"outputs\":[],\"logs\":[]}}\n");
        assert!(compare_lines(&actual, &expected).matches());
        let wrong = expected.replace("\"2\"", "\"3\"");
        assert!(!compare_lines(&actual, &wrong).matches(), "a log field differs");
        let metrics = format!("{records}{{\"metrics\":{{\"counters\":{{\"masked\":3}},\"gauges\":{{}}}}}}\n");
        let c = compare_lines(&actual, &metrics);
        assert!(c.diff.ends_with("0 of 2 records differ from expected.jsonl, and the metrics do"), "{}", c.diff);
        assert!(compare_lines(&actual, &metrics.replace(":3", ":2")).matches());
        let gauge = |value: &str| format!("{{\"metrics\":{{\"counters\":{{}},\"gauges\":{{\"size\":{value}}}}}}}\n");
        let c = compare_lines(&gauge("1.0"), &gauge("1"));
        assert!(c.matches(), "{}", c.diff);
        assert_eq!(shows(&metrics, Path::new("e")).unwrap(), Show { logs: false, metrics: true });
        assert_eq!(shows(&expected, Path::new("e")).unwrap(), Show { logs: true, metrics: false });
    }

    #[test]
    fn an_expectation_that_is_not_json_names_its_line() {
        let err = compare("", "{\"offset\":0,\"outputs\":[]}\nnope\n", Path::new("e.jsonl")).err().unwrap();
        assert_eq!(format!("{err}"), "e.jsonl:2: not a JSON line");
    }
}
