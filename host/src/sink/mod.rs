//! Sinks: where records go.
//!
//! A connector implements [`Sink`]: buffer records in `write`, start making them durable in
//! `flush`, and say which records it can never take. Acknowledging, group commit, keeping
//! several flushes in flight, retries and dead-lettering refused records are [`driver`]'s
//! job, so that no connector re-implements them.

pub mod driver;
pub mod file;
pub mod kafka;
pub use lines::LineSink;
mod lines;
pub mod null;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;

use crate::ack::Delivery;
use crate::record::{Record, RecordMeta};
use crate::router::SinkHandle;

/// A connector that writes records.
pub trait Sink: Send + 'static {
    /// Hands records sent down `route` (`None` for dead letters) to the sink. They need
    /// not be durable until [`Sink::flush`].
    fn write(&mut self, route: Option<&str>, records: &[Record]) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Starts making everything written since the last flush durable (written out and
    /// fsynced, or acknowledged by a broker) and returns the [`Flushing`] that says when
    /// it is. A sink whose durability is a local call (fsync) finishes here and returns
    /// [`Flushing::done`]; a sink that waits for a remote side (a broker's delivery
    /// reports) returns at once with [`Flushing::later`], so that the driver can write
    /// the next records while these are on their way.
    ///
    /// After an error, here or from the `Flushing`, the driver writes the same records
    /// again, so a sink must not keep half of a failed write buffered: either discard it
    /// or be sure it is out.
    fn flush(&mut self) -> impl Future<Output = anyhow::Result<Flushing>> + Send;
}

/// A flush under way. It resolves once the records it covers are durable, with those the
/// sink refuses for good (too large for the broker, say), numbered in the order written
/// since the previous flush; they go to the dead-letter sink. Records count as delivered
/// only once it resolves `Ok`.
///
/// `'static`, so that it can outlive the `&mut` borrow of the sink that started it: that
/// is what lets a broker sink have several flushes in flight.
pub struct Flushing(BoxFuture<'static, anyhow::Result<Vec<Refused>>>);

impl Flushing {
    /// A flush that finished while it was started.
    pub fn done(refused: Vec<Refused>) -> Self {
        Flushing(Box::pin(std::future::ready(Ok(refused))))
    }

    /// A flush that finishes when `outcome` does.
    pub fn later(outcome: impl Future<Output = anyhow::Result<Vec<Refused>>> + Send + 'static) -> Self {
        Flushing(Box::pin(outcome))
    }
}

impl Future for Flushing {
    type Output = anyhow::Result<Vec<Refused>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// A sink whose writes become visible only when it commits a transaction, together with
/// the source positions they came from: Kafka in an exactly-once pipeline. Run by
/// [`driver::run_transactional`], which commits only once the source has committed past
/// every batch in the transaction.
pub trait TransactionalSink: Sink {
    /// Makes everything flushed since the last commit visible, with the source's
    /// positions. Fine to call with nothing to commit.
    fn commit(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Gives up after a failure: discards the open transaction and stops the pipeline
    /// with `reason`, so that it restarts from the last commit.
    fn abort(&mut self, reason: &str) -> impl Future<Output = ()> + Send;

    /// Discards the open transaction so that its records can be written again in the
    /// next one; unlike [`TransactionalSink::abort`], the pipeline goes on. Fine to call
    /// with no transaction open.
    fn discard(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Resolves, with the reason, once the source has given up on the open transaction
    /// (a revoked partition that could not drain): it must not be committed.
    fn source_failed(&self) -> impl Future<Output = String> + Send;

    /// How long a transaction may stay open before the other side aborts it.
    fn transaction_timeout(&self) -> std::time::Duration;
}

/// A request to a transactional sink to commit now, answered once it has (or why not).
pub type CommitRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

/// A record a sink will never take, and the reason (the broker's error, say).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub index: usize,
    pub reason: String,
}

/// Records bound for one sink down one route, and the acknowledgement they owe their batch.
pub struct SinkBatch {
    /// `None` for dead letters.
    pub route: Option<Arc<str>>,
    pub records: Vec<Record>,
    pub delivery: Delivery,
    /// Where records the sink refuses go: the pipeline's dead-letter sink. `None` when
    /// these records are dead letters already.
    pub refused_to: Option<RefusedTo>,
}

/// A pipeline's dead-letter sink, as seen by the sinks it sends records to, and where the
/// records came from: a record a sink refuses is dead-lettered with the same headers as
/// one a plugin rejects (its source, stream, partition and offset among them).
#[derive(Clone)]
pub struct RefusedTo {
    pub pipeline: Arc<str>,
    pub dead_letter: SinkHandle,
    pub source: Arc<str>,
    /// The metadata of the batch's input records, shared by every sink of the batch.
    pub meta: Arc<[RecordMeta]>,
    /// For each record of this message, the index in `meta` of the input it came from.
    pub origins: Arc<[u32]>,
}

impl RefusedTo {
    /// Where record `index` of the message came from.
    pub fn origin(&self, index: usize) -> &RecordMeta {
        &self.meta[self.origins[index] as usize]
    }
}
