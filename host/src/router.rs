//! The router: sends each plugin output to the sinks of its route, and each dead letter
//! to the pipeline's dead-letter sink, one message per sink per batch.
//!
//! Every message carries a [`Delivery`](crate::ack::Delivery) of the batch, so the batch
//! is acknowledged only when every sink has accepted its part, fan-out copies included.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::ack::BatchAck;
use crate::plugin::chain::{ChainResult, DeadLetter};
use crate::record::{Record, RecordMeta};
use crate::sink::SinkBatch;
use crate::status::PipelineStats;

/// A sink's inbox, shared by every pipeline that writes to it.
#[derive(Clone)]
pub struct SinkHandle {
    pub name: String,
    pub inbox: mpsc::Sender<SinkBatch>,
}

pub struct Router {
    pipeline: String,
    sinks: Vec<SinkHandle>,
    /// Route name → indexes into `sinks`.
    routes: HashMap<Box<[u8]>, Vec<usize>>,
    default_route: Option<(String, Vec<usize>)>,
    dead_letter: usize,
    stats: Arc<PipelineStats>,
}

/// The sink task is gone: nothing can be delivered any more.
#[derive(Debug)]
pub struct SinkGone(pub String);

impl Router {
    /// `routes` and `dead_letter` name sinks by their index in `sinks`.
    pub fn new(
        pipeline: &str,
        sinks: Vec<SinkHandle>,
        routes: Vec<(String, Vec<usize>)>,
        default_route: Option<&str>,
        dead_letter: usize,
        stats: Arc<PipelineStats>,
    ) -> Self {
        let default_route = default_route.map(|name| {
            (
                name.to_owned(),
                routes.iter().find(|(r, _)| r == name).expect("config checked the default route").1.clone(),
            )
        });
        let routes =
            routes.into_iter().map(|(name, targets)| (name.into_bytes().into_boxed_slice(), targets)).collect();
        Router { pipeline: pipeline.to_owned(), sinks, routes, default_route, dead_letter, stats }
    }

    /// Hands a batch's results to the sinks, waiting while a sink's inbox is full
    /// (backpressure). Blocking: call it from the pipeline's own thread.
    pub fn dispatch(
        &self,
        source: &str,
        meta: &[RecordMeta],
        result: ChainResult,
        ack: &BatchAck,
    ) -> Result<(), SinkGone> {
        let mut per_sink: Vec<Vec<Record>> = vec![Vec::new(); self.sinks.len()];
        let mut dead = result.dead;
        let mut routed = 0;
        for output in result.outputs {
            let targets = match &output.route {
                None => self.default_route.as_ref().map(|(_, t)| t),
                Some(route) => self.routes.get(&route[..]),
            };
            let Some(targets) = targets else {
                dead.push(DeadLetter {
                    origin: output.origin,
                    reason: self.unroutable(output.route.as_ref()),
                    record: output.record,
                    plugin: None,
                });
                continue;
            };
            routed += targets.len();
            let (last, others) = targets.split_last().expect("config checked that routes have sinks");
            for &sink in others {
                per_sink[sink].push(output.record.clone());
            }
            per_sink[*last].push(output.record);
        }
        PipelineStats::add(&self.stats.records_out, routed);
        PipelineStats::add(&self.stats.dead_lettered, dead.len());
        PipelineStats::add(&self.stats.dropped, result.dropped);
        per_sink[self.dead_letter]
            .extend(dead.into_iter().map(|d| self.dead_letter_record(source, &meta[d.origin], d)));

        for (sink, records) in self.sinks.iter().zip(per_sink) {
            if !records.is_empty() {
                sink.inbox
                    .blocking_send(SinkBatch { records, delivery: ack.delivery() })
                    .map_err(|_| SinkGone(sink.name.clone()))?;
            }
        }
        Ok(())
    }

    fn unroutable(&self, route: Option<&Bytes>) -> String {
        match route {
            None => format!("the record names no route and pipeline `{}` has no default_route", self.pipeline),
            Some(route) => {
                let mut known: Vec<_> = self.routes.keys().map(|r| String::from_utf8_lossy(r).into_owned()).collect();
                known.sort();
                format!(
                    "no route is named `{}` in pipeline `{}` (routes: {})",
                    String::from_utf8_lossy(route),
                    self.pipeline,
                    known.join(", ")
                )
            }
        }
    }

    /// The record with headers that say what failed, where, and where it came from.
    fn dead_letter_record(&self, source: &str, meta: &RecordMeta, dead: DeadLetter) -> Record {
        let mut record = dead.record;
        record.push_header("sluice.error", dead.reason);
        record.push_header("sluice.pipeline", self.pipeline.clone());
        if let Some(plugin) = dead.plugin {
            record.push_header("sluice.plugin", plugin.name.clone());
            record.push_header("sluice.plugin.version", plugin.version.clone());
        }
        record.push_header("sluice.source", source.to_owned());
        record.push_header("sluice.stream", meta.stream.to_string());
        record.push_header("sluice.partition", meta.partition.to_string());
        record.push_header("sluice.offset", meta.offset.to_string());
        record
    }
}
