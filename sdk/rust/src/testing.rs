//! Run a plugin natively, in unit tests, through the same batch encoding the host uses.

use sluice_wire::{BatchWriter, Body, Headers, Outcome, ResultReader};

use crate::{Config, Plugin, process_batch};

/// A record to feed to a plugin under test.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp: Option<i64>,
}

impl TestRecord {
    /// A record with only a value.
    pub fn value(value: impl Into<Vec<u8>>) -> Self {
        TestRecord { value: Some(value.into()), ..Self::default() }
    }
}

/// An output of a plugin under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestOutput {
    pub record: TestRecord,
    /// `None` is the pipeline's default route.
    pub route: Option<String>,
}

impl TestOutput {
    /// The value as text, for assertions.
    pub fn value_str(&self) -> &str {
        std::str::from_utf8(self.record.value.as_deref().unwrap_or_default()).expect("value is UTF-8")
    }
}

/// What the plugin did with one input record.
pub type TestOutcome = Result<Vec<TestOutput>, String>;

/// Initializes `P` with `config` and runs it over `records` as one batch.
pub fn run<P: Plugin>(config: &[(&str, &str)], records: &[TestRecord]) -> Result<Vec<TestOutcome>, String> {
    let config = Config::new(config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let mut plugin = P::init(&config)?;
    run_with(&mut plugin, records)
}

/// Runs an initialized plugin over `records` as one batch.
pub fn run_with<P: Plugin>(plugin: &mut P, records: &[TestRecord]) -> Result<Vec<TestOutcome>, String> {
    let mut batch = BatchWriter::default();
    batch.begin("test");
    for (offset, r) in records.iter().enumerate() {
        let headers = r.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        let body = Body::new(r.key.as_deref(), r.value.as_deref(), Headers::EMPTY);
        batch.push(body, headers, r.timestamp, "test", 0, offset as u64);
    }
    let result = process_batch(plugin, batch.finish())?;
    let mut reader = ResultReader::new(&result, records.len() as u32).map_err(|e| e.to_string())?;
    let mut outcomes = Vec::with_capacity(records.len());
    while let Some(outcome) = reader.next_outcome() {
        outcomes.push(match outcome.map_err(|e| e.to_string())? {
            Outcome::Rejected(reason) => Err(reason.to_owned()),
            Outcome::Outputs(outputs) => {
                let mut decoded = Vec::new();
                for output in outputs {
                    let o = output.map_err(|e| e.to_string())?;
                    decoded.push(TestOutput {
                        record: TestRecord {
                            key: o.body.key().map(<[u8]>::to_vec),
                            value: o.body.value().map(<[u8]>::to_vec),
                            headers: o.body.headers().iter().map(|(n, v)| (n.to_owned(), v.to_vec())).collect(),
                            timestamp: o.timestamp,
                        },
                        route: o.route.map(str::to_owned),
                    });
                }
                Ok(decoded)
            }
        });
    }
    Ok(outcomes)
}
