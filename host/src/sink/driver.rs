//! The loop around every sink: take what is queued, write it, flush once, acknowledge.
//!
//! Draining everything queued before one flush is group commit: under load a file sink
//! fsyncs once per many batches, yet no batch waits for more than the flush it is in. A
//! failed write or flush is retried with capped exponential backoff, forever: the records
//! stay unacknowledged, the bounded channel in front of the sink fills, and the pipeline
//! slows down instead of losing or reordering anything.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{Sink, SinkBatch};

/// At most this many batches go into one flush.
const MAX_BATCHES_PER_FLUSH: usize = 64;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs until every sender of `inbox` is gone and everything received is acknowledged.
pub async fn run<S: Sink>(mut sink: S, name: String, mut inbox: mpsc::Receiver<SinkBatch>) {
    let mut group: Vec<SinkBatch> = Vec::with_capacity(MAX_BATCHES_PER_FLUSH);
    while inbox.recv_many(&mut group, MAX_BATCHES_PER_FLUSH).await > 0 {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match write_group(&mut sink, &group).await {
                Ok(()) => break,
                Err(error) => {
                    tracing::error!(sink = %name, error = format!("{error:#}"), retry_in = ?backoff, "sink write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        for batch in group.drain(..) {
            batch.delivery.accept();
        }
    }
}

async fn write_group<S: Sink>(sink: &mut S, group: &[SinkBatch]) -> anyhow::Result<()> {
    for batch in group {
        sink.write(&batch.records).await?;
    }
    sink.flush().await
}
