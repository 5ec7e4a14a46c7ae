//! Sources: where records come from.
//!
//! A connector implements [`Source`]: hand out records one at a time, and commit a
//! checkpoint when told to. Everything else, batching, backpressure, and turning
//! acknowledgements into in-order commits, is [`driver`]'s job, so no connector
//! re-implements it.

pub mod driver;
pub mod file;
pub mod generator;
pub mod kafka;
mod lines;
pub use lines::LineOptions;
pub mod stdin;

use std::future::Future;

use crate::ack::Checkpoint;
use crate::record::{Record, RecordMeta};

/// One record read from a source.
pub struct Incoming {
    /// The record, or why the bytes read could not be made into one (the driver
    /// dead-letters those with the reason).
    pub record: Result<Record, Malformed>,
    pub meta: RecordMeta,
    /// Where to resume once this record and all before it are acknowledged.
    pub checkpoint: Checkpoint,
}

/// Bytes a source read but could not decode into a record.
pub struct Malformed {
    /// What of them the dead letter carries: the raw line as its value, or a broker
    /// record's key, value and timestamp without the headers that could not be carried.
    pub kept: Record,
    pub reason: String,
}

/// A connector that reads records.
pub trait Source: Send + 'static {
    /// The next record, or `None` when the source is exhausted (a file read to its end
    /// without `follow`, a closed stdin, a generator that reached its count).
    ///
    /// Must be cancel-safe: the driver polls it in a `select!` alongside acknowledgements
    /// and timers, and drops the future when another branch wins. Dropping it must not lose
    /// a record.
    fn next(&mut self) -> impl Future<Output = anyhow::Result<Option<Incoming>>> + Send;

    /// Every record up to the one that carried `checkpoint` is fully delivered; the source
    /// may remember, commit or acknowledge that position upstream.
    fn commit(&mut self, checkpoint: Checkpoint) -> impl Future<Output = anyhow::Result<()>> + Send;
}
