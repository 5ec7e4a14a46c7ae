//! The loop around every sink: take what is queued, write it, flush once, dead-letter what
//! the sink refused, acknowledge.
//!
//! Draining everything queued before one flush is group commit: under load a file sink
//! fsyncs once per many batches, yet no batch waits for more than the flush it is in. A
//! sink that waits on a broker has several flushes in flight (see [`Flushing`]), so it
//! keeps writing while earlier records are on their way; outcomes are still handled in
//! order. A failed write or flush is retried with capped exponential backoff, forever:
//! the records stay unacknowledged, the bounded channel in front of the sink fills, and
//! the pipeline slows down instead of losing anything.
//!
//! A record the sink refuses for good (a broker's "too large") must not block its
//! partition forever: it goes to its pipeline's dead-letter sink with the reason, and its
//! batch is acknowledged once the dead-letter sink has accepted it.
//!
//! What a sink refuses is [`refusals`]' to handle (dead letters, and dead letters the
//! dead-letter sink itself refuses); a transactional sink runs a loop of its own
//! ([`transactional`]).

mod refusals;
#[cfg(test)]
mod tests;
mod transactional;

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::mpsc;

use self::refusals::{deliver, write_slim};
pub use self::transactional::run_transactional;
use super::{Flushing, Refused, Sink, SinkBatch};
/// At most this many batches go into one flush.
const MAX_BATCHES_PER_FLUSH: usize = 64;
/// At most this many flushes are under way at once. One would leave a broker sink idle
/// for a round trip after every flush; a few keep it busy, and the sink's bounded inbox
/// still stops the pipeline when they are all taken.
const MAX_FLUSHES_IN_FLIGHT: usize = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Flushes under way, oldest first, each with the batches it covers. Their outcomes are
/// handled in the order they were started, so batches are acknowledged in sink order.
#[derive(Default)]
struct InFlight {
    flushes: FuturesOrdered<Flushing>,
    groups: VecDeque<Vec<SinkBatch>>,
}

impl InFlight {
    fn push(&mut self, group: Vec<SinkBatch>, flushing: Flushing) {
        self.flushes.push_back(flushing);
        self.groups.push_back(group);
    }

    fn len(&self) -> usize {
        self.groups.len()
    }

    /// The oldest flush's batches and outcome, once it is done; `None` at once when no
    /// flush is under way. Cancel-safe.
    async fn next(&mut self) -> Option<(Vec<SinkBatch>, anyhow::Result<Vec<Refused>>)> {
        let outcome = self.flushes.next().await?;
        Some((self.groups.pop_front().expect("every flush has its group"), outcome))
    }

    /// Gives up the batches under way without acknowledging them (see
    /// [`crate::ack::Delivery::abandon`]).
    fn abandon(self) {
        for batch in self.groups.into_iter().flatten() {
            batch.delivery.abandon();
        }
    }
}

/// Runs until every sender of `inbox` is gone and everything received is acknowledged.
///
/// A failed write or flush is retried with capped exponential backoff, forever. A flush
/// that fails after it started (a broker that stopped answering) is written again once
/// it is the oldest under way, so its records may land after those of later flushes: a
/// retry can reorder, as any producer's can with several requests in flight. Broker
/// sinks retry on their own first (the Kafka producer is idempotent and retries without
/// reordering until its delivery timeout), so this is the rare path.
pub async fn run<S: Sink>(mut sink: S, name: String, mut inbox: mpsc::Receiver<SinkBatch>) {
    let mut in_flight = InFlight::default();
    let mut receiving = true;
    loop {
        tokio::select! {
            biased;
            Some((group, outcome)) = in_flight.next() => {
                let refused = match outcome {
                    Ok(refused) => refused,
                    Err(error) => write_again(&mut sink, &name, &group, error).await,
                };
                let refused = write_slim(&mut sink, &name, &group, refused).await;
                deliver(&name, group, refused).await;
            }
            group = receive(&mut inbox), if receiving && in_flight.len() < MAX_FLUSHES_IN_FLIGHT => match group {
                Some(group) => {
                    let flushing = start_flush(&mut sink, &name, &group).await;
                    in_flight.push(group, flushing);
                }
                None => receiving = false,
            },
            else => return,
        }
    }
}

/// Everything queued in `inbox`, up to a flush's worth; `None` once every sender is gone.
async fn receive(inbox: &mut mpsc::Receiver<SinkBatch>) -> Option<Vec<SinkBatch>> {
    let mut group = Vec::with_capacity(MAX_BATCHES_PER_FLUSH);
    (inbox.recv_many(&mut group, MAX_BATCHES_PER_FLUSH).await > 0).then_some(group)
}

/// Writes `group` and starts its flush, retrying until the sink takes it.
async fn start_flush<S: Sink>(sink: &mut S, name: &str, group: &[SinkBatch]) -> Flushing {
    let mut backoff = Backoff::default();
    loop {
        match write_group(sink, group).await {
            Ok(flushing) => return flushing,
            Err(error) => backoff.wait(name, &error).await,
        }
    }
}

/// Writes the records of a failed flush again and waits for each attempt, until one
/// goes through.
async fn write_again<S: Sink>(sink: &mut S, name: &str, group: &[SinkBatch], error: anyhow::Error) -> Vec<Refused> {
    let mut backoff = Backoff::default();
    let mut error = error;
    loop {
        backoff.wait(name, &error).await;
        match async { write_group(sink, group).await?.await }.await {
            Ok(refused) => return refused,
            Err(again) => error = again,
        }
    }
}

/// Capped exponential backoff between attempts at a failing sink.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(FIRST_BACKOFF)
    }
}

impl Backoff {
    async fn wait(&mut self, sink: &str, error: &anyhow::Error) {
        tracing::error!(sink, error = format!("{error:#}"), retry_in = ?self.0, "sink write failed; retrying");
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
    }
}

async fn write_group<S: Sink>(sink: &mut S, group: &[SinkBatch]) -> anyhow::Result<Flushing> {
    for batch in group {
        sink.write(batch.route.as_deref(), &batch.records).await?;
    }
    sink.flush().await
}
