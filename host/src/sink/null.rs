//! Accepts and discards everything: for benchmarks, and for dead-letter sinks of
//! pipelines that really do not care.

use super::{Flushing, Sink};
use crate::record::Record;

pub struct NullSink;

impl Sink for NullSink {
    async fn write(&mut self, _route: Option<&str>, _records: &[Record]) -> anyhow::Result<()> {
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<Flushing> {
        Ok(Flushing::done(Vec::new()))
    }
}
