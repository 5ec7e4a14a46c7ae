//! The wire-format test vectors in `sdk/vectors/` (specified in `sdk/SPEC.md`), run
//! against the reference implementation: every valid batch and result must encode to
//! exactly its `.bin` file and decode back to its JSON; every malformed one must be
//! refused. Every SDK runs the same files in its own test runner.
//!
//! `SLUICE_BLESS_VECTORS=1 cargo test -p sluice-wire --test vectors` rewrites the `.bin`
//! files from this encoder after an intended change to the format; review their diff.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;
use sluice_wire::{BatchReader, BatchWriter, Body, Headers, Outcome, ResultReader, ResultWriter, WireError};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cases of one kind, checked to be of the encoding this crate implements.
fn cases<'v>(doc: &'v Value, kind: &str) -> &'v [Value] {
    assert_eq!(doc["encoding"], 1, "vectors for another encoding version");
    doc[kind].as_array().unwrap_or_else(|| panic!("no `{kind}` list")).as_slice()
}

/// Bytes: a JSON string (its UTF-8), `{"base64": …}`, or `{"repeat": text, "count": n}`.
fn bytes(v: &Value) -> Vec<u8> {
    if let Some(text) = v.as_str() {
        return text.as_bytes().to_vec();
    }
    if let Some(encoded) = v.get("base64").and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD.decode(encoded).expect("valid base64");
    }
    let unit = v["repeat"].as_str().unwrap_or_else(|| panic!("not a byte string: {v}"));
    unit.repeat(v["count"].as_u64().expect("repeat count") as usize).into_bytes()
}

fn optional_bytes(v: &Value) -> Option<Vec<u8>> {
    (!v.is_null()).then(|| bytes(v))
}

fn text(v: &Value) -> String {
    String::from_utf8(bytes(v)).expect("names are UTF-8")
}

/// Headers: a list of `[name, value]`, or `{"repeat": [name, value], "count": n}`.
fn headers(v: &Value) -> Vec<(String, Vec<u8>)> {
    let pair = |p: &Value| (text(&p[0]), bytes(&p[1]));
    match v.as_array() {
        Some(list) => list.iter().map(pair).collect(),
        None => vec![pair(&v["repeat"]); v["count"].as_u64().expect("repeat count") as usize],
    }
}

/// 64-bit integers are decimal strings, so that every language's JSON parser reads them
/// exactly; `null` is absent.
fn int64<T: std::str::FromStr>(v: &Value) -> Option<T> {
    v.as_str().map(|s| s.parse().unwrap_or_else(|_| panic!("not a 64-bit integer: {s}")))
}

#[derive(Debug, PartialEq)]
struct Record {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp: Option<i64>,
    /// The stream of an input record, or the route of an output.
    name: Option<String>,
    partition: u32,
    offset: u64,
}

impl Record {
    fn input(v: &Value) -> Self {
        Record {
            key: optional_bytes(&v["key"]),
            value: optional_bytes(&v["value"]),
            headers: headers(&v["headers"]),
            timestamp: int64(&v["timestamp"]),
            name: Some(text(&v["stream"])),
            partition: v["partition"].as_u64().expect("partition") as u32,
            offset: int64(&v["offset"]).expect("offset"),
        }
    }

    fn output(v: &Value) -> Self {
        Record {
            key: optional_bytes(&v["key"]),
            value: optional_bytes(&v["value"]),
            headers: headers(&v["headers"]),
            timestamp: int64(&v["timestamp"]),
            name: (!v["route"].is_null()).then(|| text(&v["route"])),
            partition: 0,
            offset: 0,
        }
    }

    fn of(body: Body<'_>, timestamp: Option<i64>, name: Option<&str>) -> Self {
        Record {
            key: body.key().map(<[u8]>::to_vec),
            value: body.value().map(<[u8]>::to_vec),
            headers: body.headers().iter().map(|(n, v)| (n.to_owned(), v.to_vec())).collect(),
            timestamp,
            name: name.map(str::to_owned),
            partition: 0,
            offset: 0,
        }
    }

    fn header_refs(&self) -> Vec<(&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect()
    }
}

#[derive(Debug, PartialEq)]
enum Decided {
    Outputs(Vec<Record>),
    Rejected(String),
}

/// Compares `encoded` with the case's `.bin` file, or rewrites the file when blessing.
fn check_bytes(case: &Value, encoded: &[u8]) -> Vec<u8> {
    let path = vectors_dir().join(case["file"].as_str().expect("valid cases name their file"));
    if std::env::var_os("SLUICE_BLESS_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, encoded).unwrap();
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        expected == encoded,
        "{}: the encoder wrote {} bytes that differ from the file's {} (SLUICE_BLESS_VECTORS=1 rewrites it)",
        path.display(),
        encoded.len(),
        expected.len()
    );
    expected
}

fn decode_batch(buf: &[u8]) -> Result<(String, Vec<Record>), WireError> {
    let reader = BatchReader::new(buf)?;
    let source = reader.source().to_owned();
    let mut records = Vec::new();
    for input in reader {
        let input = input?;
        let mut record = Record::of(input.body, input.timestamp, Some(input.stream));
        // Headers are checked where they are iterated, as an SDK reads them.
        assert_eq!(record.headers.len(), input.body.headers().len(), "a header did not decode");
        (record.partition, record.offset) = (input.partition, input.offset);
        records.push(record);
    }
    Ok((source, records))
}

#[test]
fn valid_batches_encode_to_their_bytes_and_decode_to_their_records() {
    let doc = load("batches.json");
    for case in cases(&doc, "valid") {
        let name = case["name"].as_str().unwrap();
        let source = text(&case["source"]);
        let records: Vec<Record> = case["records"].as_array().unwrap().iter().map(Record::input).collect();
        let mut writer = BatchWriter::default();
        writer.begin(&source);
        for r in &records {
            let body = Body::new(r.key.as_deref(), r.value.as_deref(), Headers::EMPTY);
            writer.push(body, r.header_refs(), r.timestamp, r.name.as_deref().unwrap(), r.partition, r.offset);
        }
        let file = check_bytes(case, writer.finish());
        let decoded = decode_batch(&file).unwrap_or_else(|e| panic!("batch `{name}`: {e}"));
        assert!(decoded == (source, records), "batch `{name}` decodes to other records");
    }
}

#[test]
fn malformed_batches_are_refused() {
    let doc = load("batches.json");
    for case in cases(&doc, "malformed") {
        let name = case["name"].as_str().unwrap();
        let refused = decode_batch(&bytes(&case["bytes"]));
        assert!(refused.is_err(), "malformed batch `{name}` ({}) was decoded", case["about"]);
    }
}

fn decode_result(buf: &[u8], records: u32) -> Result<Vec<Decided>, WireError> {
    let mut reader = ResultReader::new(buf, records)?;
    let mut outcomes = Vec::new();
    while let Some(outcome) = reader.next_outcome() {
        outcomes.push(match outcome? {
            Outcome::Rejected(reason) => Decided::Rejected(reason.to_owned()),
            Outcome::Outputs(outputs) => Decided::Outputs(
                outputs.map(|o| o.map(|o| Record::of(o.body, o.timestamp, o.route))).collect::<Result<_, _>>()?,
            ),
        });
    }
    Ok(outcomes)
}

#[test]
fn valid_results_encode_to_their_bytes_and_decode_to_their_outcomes() {
    let doc = load("results.json");
    for case in cases(&doc, "valid") {
        let name = case["name"].as_str().unwrap();
        let outcomes: Vec<Decided> = case["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| match o.get("rejected") {
                Some(reason) => Decided::Rejected(text(reason)),
                None => Decided::Outputs(o["outputs"].as_array().unwrap().iter().map(Record::output).collect()),
            })
            .collect();
        let mut writer = ResultWriter::with_capacity(64);
        for outcome in &outcomes {
            match outcome {
                Decided::Rejected(reason) => writer.reject(reason),
                Decided::Outputs(outputs) => {
                    writer.begin_outputs();
                    for r in outputs {
                        let body = Body::new(r.key.as_deref(), r.value.as_deref(), Headers::EMPTY);
                        writer.output(body, r.header_refs(), r.timestamp, r.name.as_deref());
                    }
                }
            }
        }
        let file = check_bytes(case, &writer.finish());
        let decoded = decode_result(&file, outcomes.len() as u32).unwrap_or_else(|e| panic!("result `{name}`: {e}"));
        assert!(decoded == outcomes, "result `{name}` decodes to other outcomes");
    }
}

#[test]
fn malformed_results_are_refused() {
    let doc = load("results.json");
    for case in cases(&doc, "malformed") {
        let name = case["name"].as_str().unwrap();
        let records = case["records"].as_u64().unwrap() as u32;
        let refused = decode_result(&bytes(&case["bytes"]), records);
        assert!(refused.is_err(), "malformed result `{name}` ({}) was decoded", case["about"]);
    }
}
