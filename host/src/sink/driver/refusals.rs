//! What a sink refuses: dead-lettered with the reason, each with a share of its batch's
//! acknowledgement, so that the batch completes only once the dead-letter sink accepted
//! them; and what the dead-letter sink itself refuses, written again slim (see
//! [`crate::dead_letter`]) since it has nowhere else to go.

use super::{Backoff, Refused, Sink, SinkBatch};
use crate::record::Record;
use crate::sink::RefusedTo;

/// Dead-letters what the sink refused, then acknowledges the group.
pub(super) async fn deliver(name: &str, group: Vec<SinkBatch>, refused: Vec<Refused>) {
    if !refused.is_empty() {
        dead_letter_refused(name, &group, refused).await;
    }
    for batch in group {
        batch.delivery.accept();
    }
}

/// Writes again, [slim](crate::dead_letter::slim), the dead letters this sink refused
/// (it is their dead-letter sink: they have nowhere else to go), and returns what it
/// refused, those it refused even slim among them. A routed record refused by a sink that
/// is also its pipeline's dead-letter sink is not slimmed: it has no dead letter's headers
/// yet, and a stub of it would say nothing; its batch is not acknowledged.
pub(super) async fn write_slim<S: Sink>(
    sink: &mut S,
    name: &str,
    group: &[SinkBatch],
    refused: Vec<Refused>,
) -> Vec<Refused> {
    let (last_resort, mut refused): (Vec<Refused>, Vec<Refused>) =
        refused.into_iter().partition(|r| batch_of(group, r.index).0.refused_to.is_none());
    if last_resort.is_empty() {
        return refused;
    }
    tracing::warn!(
        sink = name,
        records = last_resort.len(),
        first_reason = %last_resort[0].reason,
        "the dead-letter sink refused dead letters; writing them again without their key, value and other headers"
    );
    let slim: Vec<Record> = last_resort
        .iter()
        .map(|r| {
            let (batch, at) = batch_of(group, r.index);
            crate::dead_letter::slim(&batch.records[at], &r.reason)
        })
        .collect();
    let mut backoff = Backoff::default();
    let again = loop {
        match async {
            sink.write(None, &slim).await?;
            sink.flush().await?.await
        }
        .await
        {
            Ok(again) => break again,
            Err(error) => backoff.wait(name, &error).await,
        }
    };
    refused.extend(again.into_iter().map(|Refused { index, reason }| {
        let first = &last_resort[index];
        Refused {
            index: first.index,
            reason: format!("{} (and even without its key, value and headers: {reason})", first.reason),
        }
    }));
    refused
}

/// The batch of `group` that holds record `index` of the group, and its index there.
fn batch_of(group: &[SinkBatch], mut index: usize) -> (&SinkBatch, usize) {
    for batch in group {
        match index.checked_sub(batch.records.len()) {
            Some(rest) => index = rest,
            None => return (batch, index),
        }
    }
    panic!("a sink refused record {index} past the end of what it was given")
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
        let mut first_reason = None;
        while let Some(Refused { index, reason }) = refused.next_if(|r| r.index < end) {
            first_reason.get_or_insert_with(|| reason.clone());
            let mut record: Record = batch.records[index - first].clone();
            record.push_header("sluice.error", crate::dead_letter::reason(reason));
            record.push_header("sluice.sink", sink.to_owned());
            if let Some(to) = &batch.refused_to {
                record.push_header("sluice.pipeline", to.pipeline.to_string());
                crate::dead_letter::push_origin(&mut record, &to.source, to.origin(index - first));
            }
            dead.push(record);
        }
        first = end;
        if dead.is_empty() {
            continue;
        }
        match &batch.refused_to {
            Some(RefusedTo { dead_letter, .. }) if dead_letter.name != sink => {
                let letters =
                    SinkBatch { route: None, records: dead, delivery: batch.delivery.share(), refused_to: None };
                if dead_letter.inbox.send(letters).await.is_err() {
                    tracing::error!(sink, dead_letter = %dead_letter.name, "the dead-letter sink stopped; the batch stays unacknowledged");
                }
            }
            // Refused by the dead-letter sink itself: there is nowhere left to put them, so
            // the batch is not acknowledged and its source stops before it.
            _ => {
                batch.delivery.share().fail(format!(
                    "the dead-letter sink `{sink}` refused {} record(s), which have nowhere else to go (the first: {})",
                    dead.len(),
                    first_reason.unwrap_or_default()
                ));
            }
        }
    }
}
