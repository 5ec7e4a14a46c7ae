//! The loop around every sink: take what is queued, write it, flush once, dead-letter what
//! the sink refused, acknowledge.
//!
//! Draining everything queued before one flush is group commit: under load a file sink
//! fsyncs once per many batches, yet no batch waits for more than the flush it is in. A
//! failed write or flush is retried with capped exponential backoff, forever: the records
//! stay unacknowledged, the bounded channel in front of the sink fills, and the pipeline
//! slows down instead of losing or reordering anything.
//!
//! A record the sink refuses for good (a broker's "too large") must not block its
//! partition forever: it goes to its pipeline's dead-letter sink with the reason, and its
//! batch is acknowledged once the dead-letter sink has accepted it.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{Refused, RefusedTo, Sink, SinkBatch};
use crate::record::Record;

/// At most this many batches go into one flush.
const MAX_BATCHES_PER_FLUSH: usize = 64;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs until every sender of `inbox` is gone and everything received is acknowledged.
pub async fn run<S: Sink>(mut sink: S, name: String, mut inbox: mpsc::Receiver<SinkBatch>) {
    let mut group: Vec<SinkBatch> = Vec::with_capacity(MAX_BATCHES_PER_FLUSH);
    while inbox.recv_many(&mut group, MAX_BATCHES_PER_FLUSH).await > 0 {
        let mut backoff = FIRST_BACKOFF;
        let refused = loop {
            match write_group(&mut sink, &group).await {
                Ok(refused) => break refused,
                Err(error) => {
                    tracing::error!(sink = %name, error = format!("{error:#}"), retry_in = ?backoff, "sink write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        if !refused.is_empty() {
            dead_letter_refused(&name, &group, refused).await;
        }
        for batch in group.drain(..) {
            batch.delivery.accept();
        }
    }
}

async fn write_group<S: Sink>(sink: &mut S, group: &[SinkBatch]) -> anyhow::Result<Vec<Refused>> {
    for batch in group {
        sink.write(batch.route.as_deref(), &batch.records).await?;
    }
    sink.flush().await
}

/// Sends refused records to their pipelines' dead-letter sinks, each with a share of its
/// batch's acknowledgement, so the batch completes only once they are accepted there.
async fn dead_letter_refused(sink: &str, group: &[SinkBatch], mut refused: Vec<Refused>) {
    refused.sort_by_key(|r| r.index);
    let mut refused = refused.into_iter().peekable();
    let mut first = 0;
    for batch in group {
        let end = first + batch.records.len();
        let mut dead = Vec::new();
        while let Some(Refused { index, reason }) = refused.next_if(|r| r.index < end) {
            let mut record: Record = batch.records[index - first].clone();
            record.push_header("sluice.error", reason);
            record.push_header("sluice.sink", sink.to_owned());
            dead.push(record);
        }
        first = end;
        if dead.is_empty() {
            continue;
        }
        match &batch.refused_to {
            Some(RefusedTo { pipeline, dead_letter }) if dead_letter.name != sink => {
                for record in &mut dead {
                    record.push_header("sluice.pipeline", pipeline.to_string());
                }
                let letters =
                    SinkBatch { route: None, records: dead, delivery: batch.delivery.share(), refused_to: None };
                if dead_letter.inbox.send(letters).await.is_err() {
                    tracing::error!(sink, dead_letter = %dead_letter.name, "the dead-letter sink stopped; the batch stays unacknowledged");
                }
            }
            // Refused by the dead-letter sink itself: there is nowhere left to put them.
            _ => {
                for record in &dead {
                    tracing::error!(sink, ?record, "the dead-letter sink refused a record; it is dropped");
                }
            }
        }
    }
}
