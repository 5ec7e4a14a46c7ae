//! The router: sends each plugin output to the sinks of its route, and each dead letter
//! to the pipeline's dead-letter sink, one message per sink and route per batch.
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
use crate::sink::{RefusedTo, SinkBatch};
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
    routes: Vec<Route>,
    /// Route name → index into `routes`.
    by_name: HashMap<Box<[u8]>, usize>,
    default_route: Option<usize>,
    dead_letter: usize,
    /// The name handed to every sink with its records, for those it refuses.
    pipeline_name: Arc<str>,
    stats: Arc<PipelineStats>,
}

struct Route {
    name: Arc<str>,
    /// Indexes into `sinks`.
    sinks: Vec<usize>,
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
        let default_route = default_route
            .map(|name| routes.iter().position(|(r, _)| r == name).expect("config checked the default route"));
        let by_name = routes.iter().enumerate().map(|(i, (name, _))| (name.as_bytes().into(), i)).collect();
        let routes = routes.into_iter().map(|(name, sinks)| Route { name: name.into(), sinks }).collect();
        Router {
            pipeline: pipeline.to_owned(),
            sinks,
            routes,
            by_name,
            default_route,
            dead_letter,
            pipeline_name: pipeline.into(),
            stats,
        }
    }

    /// Hands a batch's results to the sinks, waiting while a sink's inbox is full
    /// (backpressure). Blocking: call it from the pipeline's own thread.
    pub fn dispatch(
        &self,
        source: &Arc<str>,
        meta: Vec<RecordMeta>,
        result: ChainResult,
        ack: &BatchAck,
    ) -> Result<(), SinkGone> {
        let meta: Arc<[RecordMeta]> = meta.into();
        let mut per_route: Vec<(Vec<Record>, Vec<u32>)> = vec![(Vec::new(), Vec::new()); self.routes.len()];
        let mut dead = result.dead;
        let mut routed = 0;
        for output in result.outputs {
            let route = match &output.route {
                None => self.default_route,
                Some(route) => self.by_name.get(&route[..]).copied(),
            };
            let Some(route) = route else {
                dead.push(DeadLetter {
                    origin: output.origin,
                    reason: self.unroutable(output.route.as_ref()),
                    record: output.record,
                    plugin: None,
                });
                continue;
            };
            routed += self.routes[route].sinks.len();
            per_route[route].0.push(output.record);
            per_route[route].1.push(output.origin as u32);
        }
        PipelineStats::add(&self.stats.records_out, routed);
        PipelineStats::add(&self.stats.dead_lettered, dead.len());
        PipelineStats::add(&self.stats.dropped, result.dropped);
        PipelineStats::add(&self.stats.skipped, result.skipped);
        PipelineStats::add(&self.stats.rollbacks, result.rollbacks);

        for (route, (records, origins)) in self.routes.iter().zip(per_route) {
            if records.is_empty() {
                continue;
            }
            let refused_to = RefusedTo {
                pipeline: self.pipeline_name.clone(),
                dead_letter: self.sinks[self.dead_letter].clone(),
                source: source.clone(),
                meta: meta.clone(),
                origins: origins.into(),
            };
            // Fan-out copies share the records' buffers.
            let (last, others) = route.sinks.split_last().expect("config checked that routes have sinks");
            for &sink in others {
                self.send(sink, Some(route.name.clone()), records.clone(), Some(refused_to.clone()), ack)?;
            }
            self.send(*last, Some(route.name.clone()), records, Some(refused_to), ack)?;
        }
        if !dead.is_empty() {
            let records = dead.into_iter().map(|d| self.dead_letter_record(source, &meta[d.origin], d)).collect();
            // Dead letters a sink refuses have nowhere further to go.
            self.send(self.dead_letter, None, records, None, ack)?;
        }
        Ok(())
    }

    fn send(
        &self,
        sink: usize,
        route: Option<Arc<str>>,
        records: Vec<Record>,
        refused_to: Option<RefusedTo>,
        ack: &BatchAck,
    ) -> Result<(), SinkGone> {
        let sink = &self.sinks[sink];
        let batch = SinkBatch { route, records, delivery: ack.delivery(), refused_to };
        sink.inbox.blocking_send(batch).map_err(|_| SinkGone(sink.name.clone()))
    }

    fn unroutable(&self, route: Option<&Bytes>) -> String {
        match route {
            None => format!("the record names no route and pipeline `{}` has no default_route", self.pipeline),
            Some(route) => {
                let mut known: Vec<&str> = self.routes.iter().map(|r| &*r.name).collect();
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
        record.push_header("sluice.error", crate::dead_letter::reason(dead.reason));
        record.push_header("sluice.pipeline", self.pipeline.clone());
        if let Some(plugin) = dead.plugin {
            record.push_header("sluice.plugin", plugin.name.clone());
            record.push_header("sluice.plugin.version", plugin.version.clone());
        }
        crate::dead_letter::push_origin(&mut record, source, meta);
        record
    }
}
