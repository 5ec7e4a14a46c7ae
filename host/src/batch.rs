//! Batches: the unit that crosses the plugin boundary and is acknowledged as one.

use std::sync::Arc;

use crate::ack::{BatchAck, BatchSeq, Checkpoint};
use crate::record::{Record, RecordMeta};
use crate::source::{Incoming, Malformed};

/// Records read from one source, in order, on their way to the plugin chain.
pub struct Batch {
    pub seq: BatchSeq,
    /// The source's name, as plugins see it.
    pub source: Arc<str>,
    pub records: Vec<Record>,
    /// Parallel to `records`.
    pub meta: Vec<RecordMeta>,
    /// Indexes into `records` that the source could not decode, with why. Their record
    /// holds the raw bytes as its value; they skip the plugins and go to the dead-letter
    /// sink. Usually empty.
    pub malformed: Vec<(usize, String)>,
    pub ack: BatchAck,
}

/// Accumulates records until a batch is due.
pub struct BatchBuilder {
    capacity: usize,
    records: Vec<Record>,
    meta: Vec<RecordMeta>,
    malformed: Vec<(usize, String)>,
    last_checkpoint: Checkpoint,
}

impl BatchBuilder {
    pub fn new(capacity: usize) -> Self {
        BatchBuilder {
            capacity,
            records: Vec::with_capacity(capacity),
            meta: Vec::with_capacity(capacity),
            malformed: Vec::new(),
            last_checkpoint: 0,
        }
    }

    pub fn push(&mut self, incoming: Incoming) {
        let record = incoming.record.unwrap_or_else(|Malformed { kept, reason }| {
            self.malformed.push((self.records.len(), reason));
            kept
        });
        self.records.push(record);
        self.meta.push(incoming.meta);
        self.last_checkpoint = incoming.checkpoint;
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.records.len() >= self.capacity
    }

    /// Takes the accumulated records as a batch, and the checkpoint of its last record.
    pub fn take(&mut self, seq: BatchSeq, source: Arc<str>, ack: BatchAck) -> (Batch, Checkpoint) {
        let batch = Batch {
            seq,
            source,
            records: std::mem::replace(&mut self.records, Vec::with_capacity(self.capacity)),
            meta: std::mem::replace(&mut self.meta, Vec::with_capacity(self.capacity)),
            malformed: std::mem::take(&mut self.malformed),
            ack,
        };
        (batch, self.last_checkpoint)
    }
}
