//! Run a plugin natively, in unit tests, through the same batch encoding the host uses.

use std::collections::BTreeMap;

use sluice_wire::{BatchWriter, Body, Headers, Outcome, ResultReader};

use crate::{Config, Level, Plugin, process_batch};

/// What the plugin logged and recorded during the last [`run`] or [`run_with`] on this
/// thread, as the host would have received it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Captured {
    /// Each log line: its level, message and fields.
    pub logs: Vec<(Level, String, Vec<(String, String)>)>,
    /// Each counter's total.
    pub counters: BTreeMap<String, u64>,
    /// Each gauge's last value.
    pub gauges: BTreeMap<String, f64>,
}

/// What the plugin logged and recorded during the last run on this thread.
pub fn captured() -> Captured {
    crate::host::native::CAPTURED.with(|c| c.borrow().clone())
}

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

/// Initializes `P` with `config` and runs it over `records` as one batch. What it logs and
/// records, `init` included, is in [`captured`] afterwards.
pub fn run<P: Plugin>(config: &[(&str, &str)], records: &[TestRecord]) -> Result<Vec<TestOutcome>, String> {
    crate::host::native::CAPTURED.with(|c| c.take());
    let config = Config::new(config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let mut plugin = P::init(&config)?;
    run_batch(&mut plugin, records)
}

/// Runs an initialized plugin over `records` as one batch; what it logs and records is in
/// [`captured`] afterwards.
pub fn run_with<P: Plugin>(plugin: &mut P, records: &[TestRecord]) -> Result<Vec<TestOutcome>, String> {
    crate::host::native::CAPTURED.with(|c| c.take());
    run_batch(plugin, records)
}

fn run_batch<P: Plugin>(plugin: &mut P, records: &[TestRecord]) -> Result<Vec<TestOutcome>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Output, Record, Reject, counter_add, gauge_set, log};

    struct Counting;

    impl Plugin for Counting {
        fn init(_: &Config) -> Result<Self, String> {
            counter_add("started", 1);
            Ok(Counting)
        }

        fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
            log(Level::Info, "seen", &[("value", record.value_str()?)]);
            counter_add("seen", 2);
            gauge_set("last", 1.5);
            out.forward();
            Ok(())
        }
    }

    #[test]
    fn what_a_plugin_logs_and_records_is_captured_for_each_run() {
        run::<Counting>(&[], &[TestRecord::value("a"), TestRecord::value("b")]).unwrap();
        let seen = captured();
        assert_eq!(seen.logs.len(), 2);
        assert_eq!(seen.logs[1], (Level::Info, "seen".to_owned(), vec![("value".to_owned(), "b".to_owned())]));
        assert_eq!(seen.counters, [("seen".to_owned(), 4), ("started".to_owned(), 1)].into());
        assert_eq!(seen.gauges, [("last".to_owned(), 1.5)].into());
        run::<Counting>(&[], &[]).unwrap();
        assert_eq!(captured().counters, [("started".to_owned(), 1)].into(), "each run starts afresh");
    }
}
