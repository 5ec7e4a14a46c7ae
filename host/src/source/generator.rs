//! Synthetic JSON records, for trying pipelines out and for load tests.
//!
//! Record `n` has key `n` and a value like
//! `{"id":n,"level":"info","user":"user-7","message":"synthetic event n"}`. Levels cycle
//! so that every tenth record is an `error` and two in ten are `warn`, which gives routing
//! examples something to route. Every 50th record is not valid JSON, which gives
//! validation and dead-letter examples something to reject.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Incoming, Source};
use crate::ack::Checkpoint;
use crate::record::{Record, RecordMeta, now_millis};

pub struct GeneratorSource {
    stream: Arc<str>,
    count: Option<u64>,
    interval: Option<Duration>,
    started: Instant,
    next: u64,
}

impl GeneratorSource {
    pub fn new(name: &str, count: Option<u64>, rate: Option<f64>) -> Self {
        GeneratorSource {
            stream: Arc::from(name),
            count,
            interval: rate.map(|r| Duration::from_secs_f64(1.0 / r)),
            started: Instant::now(),
            next: 0,
        }
    }
}

/// The value of record `n`.
pub fn synthetic_value(n: u64) -> String {
    if n % 50 == 49 {
        return format!("{{\"id\":{n},\"level\":\"info\",\"message\":\"truncated");
    }
    let level = match n % 10 {
        0 => "error",
        1 | 2 => "warn",
        _ => "info",
    };
    format!("{{\"id\":{n},\"level\":\"{level}\",\"user\":\"user-{}\",\"message\":\"synthetic event {n}\"}}", n % 97)
}

impl Source for GeneratorSource {
    async fn next(&mut self) -> anyhow::Result<Option<Incoming>> {
        let n = self.next;
        if self.count.is_some_and(|count| n >= count) {
            return Ok(None);
        }
        if let Some(interval) = self.interval {
            // Paced from the start rather than from the previous record, so that a slow
            // pipeline catches up instead of drifting. Cancel-safe: `next` only moves on
            // once the record is returned.
            tokio::time::sleep_until(self.started + interval.mul_f64(n as f64)).await;
        }
        self.next += 1;
        let mut record = Record::new(Some(n.to_string().as_bytes()), Some(synthetic_value(n).as_bytes()));
        record.timestamp = Some(now_millis());
        let meta = RecordMeta { stream: self.stream.clone(), partition: 0, offset: n };
        Ok(Some(Incoming { record: Ok(record), meta, checkpoint: n }))
    }

    async fn commit(&mut self, _checkpoint: Checkpoint) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stops_at_its_count_with_consecutive_offsets() {
        let mut g = GeneratorSource::new("gen", Some(3), None);
        let mut offsets = Vec::new();
        while let Some(incoming) = g.next().await.unwrap() {
            offsets.push(incoming.meta.offset);
        }
        assert_eq!(offsets, [0, 1, 2]);
    }

    #[test]
    fn values_are_json_except_every_fiftieth() {
        for n in 0..200 {
            let parsed = serde_json::from_str::<serde_json::Value>(&synthetic_value(n));
            assert_eq!(parsed.is_err(), n % 50 == 49, "record {n}");
        }
    }
}
