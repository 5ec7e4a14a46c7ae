//! Sinks: where records go.
//!
//! A connector implements [`Sink`]: buffer records in `write`, make them durable in
//! `flush`. Acknowledging, group commit and retries are [`driver`]'s job, so that no
//! connector re-implements them.

pub mod driver;
pub mod file;
pub use lines::LineSink;
mod lines;
pub mod null;

use std::future::Future;

use crate::ack::Delivery;
use crate::record::Record;

/// A connector that writes records.
pub trait Sink: Send + 'static {
    /// Hands records to the sink. They need not be durable until [`Sink::flush`].
    fn write(&mut self, records: &[Record]) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Makes everything written so far durable (written out, fsynced, acknowledged by a
    /// broker). Records count as delivered only once this returns `Ok`.
    ///
    /// After an error the driver writes the same records again, so a sink must not keep
    /// half of a failed write buffered: either discard it or be sure it is out.
    fn flush(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Records bound for one sink, and the acknowledgement they owe their batch.
pub struct SinkBatch {
    pub records: Vec<Record>,
    pub delivery: Delivery,
}
