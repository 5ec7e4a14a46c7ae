//! Building and running the whole graph from a [`Config`].
//!
//! ```text
//!  lane task ─────Batch──▶ pipeline worker ────────SinkBatch──▶ sink task
//!  (source::driver)  (bounded)  (plugin::chain, router)  (bounded)  (sink::driver)
//!        ▲                                                               │
//!        └────────────── batch completions (ack) ◀──── Delivery::accept ─┘
//! ```
//!
//! Plugins run on OS threads, the pipeline's workers: a WebAssembly call is synchronous
//! CPU work that must not stall the async runtime. Each lane of a source (a file, a Kafka
//! partition) always feeds the same worker, so its batches stay strictly ordered while
//! different partitions are transformed in parallel. Sources and sinks are async tasks.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::config::{
    Config, DEFAULT_TRANSACTION_INTERVAL, PipelineConfig, PluginLimits, SinkConfig, SourceConfig, flatten_plugin_config,
};
use crate::kafka::exactly_once::{self, SinkLink, SourceLink};
use crate::plugin::cache::CompileCache;
use crate::plugin::chain::{Chain, SlotSpec};
use crate::plugin::compiler::IsolatedCompiler;
use crate::plugin::directory::PluginDirectory;
use crate::plugin::pool::PoolSize;
use crate::plugin::{PluginEngine, Sandbox};
use crate::router::{Router, SinkHandle};
use crate::sink::kafka::KafkaSink;
use crate::sink::{self, SinkBatch};
use crate::source::LineOptions;
use crate::source::driver::{BatchSettings, Lanes};
use crate::source::file::FileSource;
use crate::source::generator::GeneratorSource;
use crate::source::kafka::KafkaSource;
use crate::source::stdin::StdinSource;
use crate::status::{self, PipelineStats};

/// Batches queued between a source and its pipeline thread. Small on purpose: together
/// with the sink inboxes it bounds the records in memory per pipeline.
const BATCH_QUEUE: usize = 2;
/// Messages queued in front of each sink.
const SINK_QUEUE: usize = 16;

/// Compiles every plugin and starts every pipeline's chain (so each `init` sees its
/// config), without opening sources or sinks: what `sluice validate` checks.
pub async fn check(config: &Config) -> anyhow::Result<()> {
    let directory = load_plugins(config).await?;
    for (name, pipeline) in &config.pipelines {
        let specs = slot_specs(config, &directory, name, pipeline);
        let name = name.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let _runtime = handle.enter();
            Chain::start(&name, specs).map(drop).map_err(|e| anyhow::anyhow!("pipeline `{name}`: {e}"))
        })
        .await??;
    }
    Ok(())
}

/// Runs every pipeline until its source is exhausted or `shutdown` fires, then drains.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let directory = load_plugins(&config).await?;

    // Plugins start first: a plugin that refuses its config must stop the start before
    // any sink file is created or any source is read.
    let mut sinks = Vec::new();
    let mut inboxes = Vec::new();
    for name in config.sinks.keys() {
        let (inbox, rx) = mpsc::channel(SINK_QUEUE);
        sinks.push(SinkHandle { name: name.clone(), inbox });
        inboxes.push(rx);
    }
    // Exactly-once pipelines: their Kafka source and sink share a transaction link.
    let mut source_links = HashMap::new();
    let mut sink_links = HashMap::new();
    for (name, pipeline) in &config.pipelines {
        if let Some(sink) = config.transactional_sink(pipeline) {
            let (source_link, sink_link) = exactly_once::link();
            source_links.insert(pipeline.source.clone(), source_link);
            let settings = TransactionSettings {
                id: transactional_id(&config, name, pipeline),
                interval: pipeline.transaction_interval.unwrap_or(DEFAULT_TRANSACTION_INTERVAL),
                link: sink_link,
            };
            sink_links.insert(sink.to_owned(), settings);
        }
    }
    let mut pipelines = Vec::new();
    let mut workers = Vec::new();
    for (name, pipeline) in &config.pipelines {
        let stats = Arc::new(PipelineStats::default());
        let router = Arc::new(build_router(name, pipeline, &sinks, stats.clone()));
        let count = worker_count(&config, pipeline);
        let mut inboxes = Vec::with_capacity(count);
        for index in 0..count {
            let (batches_tx, batches_rx) = mpsc::channel(BATCH_QUEUE);
            let specs = slot_specs(&config, &directory, name, pipeline);
            let worker = Worker { pipeline: name.clone(), index, router: router.clone(), stopping: shutdown.clone() };
            workers.push(worker.start(specs, batches_rx).await?);
            inboxes.push(batches_tx);
        }
        pipelines.push((name.clone(), pipeline, stats, inboxes));
    }

    // Sources open before sinks: a missing input file must not leave empty outputs behind.
    let mut opened = Vec::new();
    for (name, pipeline, stats, inboxes) in pipelines {
        let link = source_links.remove(&pipeline.source);
        let source = open_source(&config, &pipeline.source, link)
            .await
            .with_context(|| format!("source `{}`", pipeline.source))?;
        opened.push((name, pipeline, stats, inboxes, source));
    }
    let mut sink_tasks = JoinSet::new();
    for ((name, sink_config), inbox) in config.sinks.iter().zip(inboxes) {
        let transactions = sink_links.remove(name);
        spawn_sink(&mut sink_tasks, name, sink_config, inbox, transactions)
            .await
            .with_context(|| format!("sink `{name}`"))?;
    }
    let mut sources = JoinSet::new();
    let mut all_stats = Vec::new();
    for (name, pipeline, stats, inboxes, source) in opened {
        let settings = BatchSettings { size: pipeline.batch_size, wait: pipeline.batch_wait };
        let lanes = Lanes::new(Arc::from(pipeline.source.as_str()), settings, inboxes, stats.clone());
        sources.spawn(source.run(lanes, shutdown.clone()));
        all_stats.push((name, stats));
    }
    // Tests widen the window between loading the plugins and watching their directory.
    fail::fail_point!("before-plugin-watch");
    let _watch = directory.watch()?;
    // The routers hold the only senders now, so sinks stop once every pipeline has.
    drop(sinks);
    let reporter =
        tokio::spawn(status::report(all_stats.clone(), directory.slots().clone(), config.host.status_interval));
    tracing::info!(pipelines = config.pipelines.len(), "sluice is running");
    let started = std::time::Instant::now();

    let mut failure = None;
    let drained = async {
        while let Some(result) = sources.join_next().await {
            if let Err(e) = result.expect("source task panicked") {
                tracing::error!(error = format!("{e:#}"), "a source failed; shutting everything down");
                failure.get_or_insert(e);
                shutdown.cancel();
            }
        }
    };
    tokio::select! {
        () = drained => {}
        () = async { shutdown.cancelled().await; tokio::time::sleep(config.host.shutdown_timeout).await } => {
            anyhow::bail!("shutdown took longer than {:?}; unacknowledged records will be read again on the next start", config.host.shutdown_timeout);
        }
    }
    for thread in workers {
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("a pipeline worker panicked"))??;
    }
    while let Some(result) = sink_tasks.join_next().await {
        result.context("a sink task panicked")?;
    }
    reporter.abort();
    status::log_totals(&all_stats, started.elapsed());
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn load_plugins(config: &Config) -> anyhow::Result<Arc<PluginDirectory>> {
    let names: BTreeSet<String> =
        config.pipelines.values().flat_map(|p| p.plugins.iter().map(|r| r.name.clone())).collect();
    let compiler = IsolatedCompiler::current(config.host.plugin_compile)?;
    let engine = PluginEngine::isolated(&pool_size(config), compiler)?;
    let cache = CompileCache::new(config.host.data_dir.join("compiled-plugins")).reading_through(CompileCache::user());
    PluginDirectory::load(engine, cache, &config.host.plugins_dir, &names).await
}

/// The instance pool for every plugin of every worker of every pipeline.
fn pool_size(config: &Config) -> PoolSize {
    let slots = config.pipelines.values().map(|p| worker_count(config, p) * p.plugins.len()).sum();
    let limits: Vec<PluginLimits> = config
        .pipelines
        .values()
        .flat_map(|p| &p.plugins)
        .map(|p| config.host.plugin_limits.with_overrides(&p.limits).expect("config checked plugin limits"))
        .collect();
    PoolSize::for_slots(slots, &limits)
}

fn slot_specs(config: &Config, directory: &PluginDirectory, name: &str, pipeline: &PipelineConfig) -> Vec<SlotSpec> {
    let spec = |p: &crate::config::PluginRef| SlotSpec {
        versions: directory.subscribe(&p.name).expect("every named plugin was loaded"),
        report: directory.slots().register(&p.name, name),
        config: flatten_plugin_config(&p.config).expect("config checked plugin tables"),
        sandbox: Sandbox::of(&config.host.plugin_limits, p),
        on_failure: p.on_failure,
        rollback_after: p.rollback_after,
    };
    pipeline.plugins.iter().map(spec).collect()
}

fn build_router(name: &str, pipeline: &PipelineConfig, sinks: &[SinkHandle], stats: Arc<PipelineStats>) -> Router {
    let index = |sink: &String| sinks.iter().position(|s| &s.name == sink).expect("config checked sink names");
    let routes =
        pipeline.routes.iter().map(|(route, targets)| (route.clone(), targets.iter().map(index).collect())).collect();
    Router::new(name, sinks.to_vec(), routes, pipeline.default_route.as_deref(), index(&pipeline.dead_letter), stats)
}

fn worker_count(config: &Config, pipeline: &PipelineConfig) -> usize {
    pipeline.workers.unwrap_or_else(|| default_workers(&config.sources[&pipeline.source]))
}

/// Partitioned sources get a worker per CPU, so that their partitions are transformed in
/// parallel; a single-lane source could keep only one busy.
fn default_workers(source: &SourceConfig) -> usize {
    match source.is_partitioned() {
        true => std::thread::available_parallelism().map_or(1, |n| n.get()),
        false => 1,
    }
}

/// One of a pipeline's threads that run the plugin chain and hand results to the router.
struct Worker {
    pipeline: String,
    index: usize,
    router: Arc<Router>,
    /// The host's shutdown, which ends the chain's backoff pauses.
    stopping: CancellationToken,
}

impl Worker {
    /// Starts the worker's thread and waits until its plugins have started.
    async fn start(
        self,
        specs: Vec<SlotSpec>,
        mut batches: mpsc::Receiver<Batch>,
    ) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
        let (started_tx, started) = oneshot::channel();
        let runtime = tokio::runtime::Handle::current();
        let Worker { pipeline: name, index, router, stopping } = self;
        let thread = std::thread::Builder::new().name(format!("pipeline-{name}-{index}")).spawn(move || {
            let _runtime = runtime.enter();
            let mut chain = match Chain::start(&name, specs) {
                Ok(chain) => chain,
                Err(e) => {
                    let _ = started_tx.send(Err(anyhow::anyhow!("pipeline `{name}`: {e}")));
                    return Ok(());
                }
            };
            chain.end_pauses_when(stopping);
            let _ = started_tx.send(Ok(()));
            while let Some(batch) = batches.blocking_recv() {
                let Batch { source, records, meta, malformed, ack, .. } = batch;
                // Returning drops `ack` undispatched: the batch is lost, never committed.
                let result = chain.run(&source, &meta, records, &malformed).map_err(|reason| {
                    tracing::error!(pipeline = %name, %reason, "the pipeline stops");
                    anyhow::anyhow!("pipeline `{name}`: {reason}")
                })?;
                // A worker that panics here has run the batch and sent nothing on.
                fail::fail_point!("worker-before-dispatch");
                router
                    .dispatch(&source, meta, result, &ack)
                    .map_err(|gone| anyhow::anyhow!("pipeline `{name}`: sink `{}` stopped", gone.0))?;
                ack.dispatched();
            }
            Ok(())
        })?;
        started.await.context("the pipeline worker died while starting")??;
        Ok(thread)
    }
}

/// A source connector, opened but not yet read.
enum OpenedSource {
    File(FileSource),
    Stdin(StdinSource),
    Generator(GeneratorSource),
    Kafka(KafkaSource),
}

impl OpenedSource {
    /// Reads the source until it is exhausted or `shutdown` fires, and everything read is
    /// acknowledged.
    async fn run(self, lanes: Lanes, shutdown: CancellationToken) -> anyhow::Result<()> {
        async fn single(lane: tokio::task::JoinHandle<anyhow::Result<()>>) -> anyhow::Result<()> {
            lane.await.context("a source task panicked")?
        }
        match self {
            OpenedSource::File(s) => single(lanes.spawn(s, shutdown)).await,
            OpenedSource::Stdin(s) => single(lanes.spawn(s, shutdown)).await,
            OpenedSource::Generator(s) => single(lanes.spawn(s, shutdown)).await,
            OpenedSource::Kafka(s) => s.run(lanes, shutdown).await,
        }
    }
}

async fn open_source(config: &Config, name: &str, transactions: Option<SourceLink>) -> anyhow::Result<OpenedSource> {
    Ok(match &config.sources[name] {
        SourceConfig::File { path, format, follow, max_line_bytes } => {
            let lines = LineOptions { format: *format, max_bytes: max_line_bytes.as_u64() as usize };
            OpenedSource::File(FileSource::open(name, path, lines, *follow, &config.host.data_dir).await?)
        }
        SourceConfig::Stdin { format, max_line_bytes } => OpenedSource::Stdin(StdinSource::new(LineOptions {
            format: *format,
            max_bytes: max_line_bytes.as_u64() as usize,
        })),
        SourceConfig::Generator { count, rate } => OpenedSource::Generator(GeneratorSource::new(name, *count, *rate)),
        SourceConfig::Kafka(kafka) => OpenedSource::Kafka(KafkaSource::open(name, kafka, transactions)?),
    })
}

/// What the sink of an exactly-once pipeline needs.
struct TransactionSettings {
    id: String,
    interval: std::time::Duration,
    link: SinkLink,
}

/// The `transactional_id` given, or one that stays the same across restarts on this host
/// (so that a restart fences its predecessor at once) and differs between pipelines and
/// groups.
fn transactional_id(config: &Config, name: &str, pipeline: &PipelineConfig) -> String {
    if let Some(id) = &pipeline.transactional_id {
        return id.clone();
    }
    let SourceConfig::Kafka(source) = &config.sources[&pipeline.source] else {
        unreachable!("config checked that exactly-once pipelines read Kafka")
    };
    let host = gethostname::gethostname();
    format!("sluice-{}-{name}-{}", source.group, host.to_string_lossy())
}

async fn spawn_sink(
    tasks: &mut JoinSet<()>,
    name: &str,
    sink: &SinkConfig,
    inbox: mpsc::Receiver<SinkBatch>,
    transactions: Option<TransactionSettings>,
) -> anyhow::Result<()> {
    let name = name.to_owned();
    match sink {
        SinkConfig::File { path, format } => {
            tasks.spawn(sink::driver::run(sink::file::open(path, *format).await?, name, inbox));
        }
        SinkConfig::Stdout { format } => {
            tasks.spawn(sink::driver::run(
                sink::LineSink::new(tokio::io::stdout(), "stdout".into(), *format),
                name,
                inbox,
            ));
        }
        SinkConfig::Kafka(kafka) => match transactions {
            None => {
                tasks.spawn(sink::driver::run(KafkaSink::open(&name, kafka)?, name, inbox));
            }
            Some(TransactionSettings { id, interval, mut link }) => {
                let requests = link.take_requests();
                let sink = KafkaSink::open_transactional(&name, kafka, &id, link).await?;
                tracing::info!(sink = %name, transactional_id = %id, ?interval, "exactly-once: records and source offsets are committed in transactions");
                tasks.spawn(sink::driver::run_transactional(sink, name, inbox, requests, interval));
            }
        },
        SinkConfig::Null {} => {
            tasks.spawn(sink::driver::run(sink::null::NullSink, name, inbox));
        }
    }
    Ok(())
}
