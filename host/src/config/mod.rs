//! `sluice.toml`: what to read, which plugins to run, where to write.
//!
//! Loading is all-or-nothing: [`Config::load`] parses, interpolates `${VAR}`s, resolves
//! relative paths against the file's folder and checks every cross-reference before
//! anything starts, and each error names the file, the key and what is wrong.

mod dead_letters;
mod env;
mod kafka;
mod limits;
mod plugin;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

pub use kafka::{KafkaProperties, KafkaSinkConfig, KafkaSourceConfig, StartPosition, kafka_property};
pub use limits::{CompileLimits, PluginLimits};
pub use plugin::{FailurePolicy, Grants, PluginRef, flatten_plugin_config, is_plugin_name};

/// A configuration error, printed as `FILE: KEY: MESSAGE`.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted path to the offending key, or a line reference when there is no key.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub host: HostConfig,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkConfig>,
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// Where plugins live: `NAME.wasm` is the plugin `NAME`. Watched for new versions.
    pub plugins_dir: PathBuf,
    /// Where sources keep their positions across restarts.
    pub data_dir: PathBuf,
    /// How often each pipeline logs its counters.
    #[serde(with = "humantime_serde")]
    pub status_interval: Duration,
    /// How long a graceful shutdown may take to drain in-flight batches.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Sandbox limits for every plugin instance.
    pub plugin_limits: PluginLimits,
    /// What compiling one plugin file may take.
    pub plugin_compile: CompileLimits,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            plugins_dir: "plugins".into(),
            data_dir: "data".into(),
            status_interval: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            plugin_limits: PluginLimits::default(),
            plugin_compile: CompileLimits::default(),
        }
    }
}

/// How a line of text maps to a record.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LineFormat {
    /// The line is the record's value.
    #[default]
    Lines,
    /// The line is a JSON object `{"key", "value", "headers", "timestamp"}`.
    Envelope,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Lines of a file; with `follow`, waits for more like `tail -f`.
    File {
        path: PathBuf,
        #[serde(default)]
        format: LineFormat,
        #[serde(default)]
        follow: bool,
        /// Longer lines are dead-lettered as malformed, with their first bytes.
        #[serde(default = "default_max_line_bytes")]
        max_line_bytes: ByteSize,
    },
    /// Lines of standard input, until it closes.
    Stdin {
        #[serde(default)]
        format: LineFormat,
        #[serde(default = "default_max_line_bytes")]
        max_line_bytes: ByteSize,
    },
    /// Records from Kafka topics, read by a consumer group.
    Kafka(KafkaSourceConfig),
    /// Synthetic JSON records, for trying pipelines out and for load tests.
    Generator {
        /// Stop after this many records; run forever if absent.
        count: Option<u64>,
        /// Records per second; as fast as possible if absent.
        rate: Option<f64>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// Appends to a file, fsynced before records are acknowledged.
    File {
        path: PathBuf,
        #[serde(default = "envelope")]
        format: LineFormat,
    },
    /// Writes to standard output.
    Stdout {
        #[serde(default = "envelope")]
        format: LineFormat,
    },
    /// Produces to a Kafka topic.
    Kafka(KafkaSinkConfig),
    /// Accepts and discards everything.
    Null {},
}

impl SourceConfig {
    /// Whether the source reads several independent lanes (partitions) that the pipeline
    /// can process in parallel.
    pub fn is_partitioned(&self) -> bool {
        matches!(self, SourceConfig::Kafka(_))
    }
}

fn default_max_line_bytes() -> ByteSize {
    ByteSize::mib(1)
}

/// The most `max_line_bytes` may be: lines are buffered whole up to it.
const MAX_LINE_BYTES: ByteSize = ByteSize::mib(256);

fn envelope() -> LineFormat {
    LineFormat::Envelope
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// The source to read, by name.
    pub source: String,
    /// The plugin chain, in order: each plugin's outputs are the next one's inputs.
    #[serde(default)]
    pub plugins: Vec<PluginRef>,
    /// Route name → the sinks that receive records sent down it.
    #[serde(default)]
    pub routes: BTreeMap<String, Vec<String>>,
    /// The route for outputs that name none.
    pub default_route: Option<String>,
    /// The sink for records that a plugin rejects, that fail, or whose route is unknown.
    pub dead_letter: String,
    /// Records per batch, at most.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How long a partial batch waits for more records before it goes anyway.
    #[serde(default = "default_batch_wait", with = "humantime_serde")]
    pub batch_wait: Duration,
    /// Threads that run the plugin chain, each with its own plugin instances. A lane (a
    /// Kafka partition) always goes to the same worker, so its order is kept. Defaults to
    /// the number of CPUs for partitioned sources and to 1 otherwise.
    pub workers: Option<usize>,
    /// `at-least-once`, or `exactly-once` for Kafka to Kafka (see [`Delivery`]).
    #[serde(default)]
    pub delivery: Delivery,
    /// Exactly-once: how long a transaction collects records before it commits; `0s`
    /// commits after every write. Default 100 ms.
    #[serde(default, with = "humantime_serde")]
    pub transaction_interval: Option<Duration>,
    /// Exactly-once: the producer's `transactional.id`, unique per running instance and
    /// stable across its restarts. Default `sluice-GROUP-PIPELINE-HOSTNAME`.
    pub transactional_id: Option<String>,
}

/// A pipeline's delivery guarantee.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Every record reaches its sinks, some more than once after a crash.
    #[default]
    AtLeastOnce,
    /// Kafka source to one Kafka sink: the sink's records and the source's offsets are
    /// committed in the same transaction. Other sinks of the pipeline stay at-least-once.
    ExactlyOnce,
}

pub const DEFAULT_TRANSACTION_INTERVAL: Duration = Duration::from_millis(100);

fn default_batch_size() -> usize {
    500
}

fn default_batch_wait() -> Duration {
    Duration::from_millis(100)
}

pub const MAX_BATCH_SIZE: usize = 100_000;

impl Config {
    /// Reads, interpolates, parses and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(path, &text, |name| std::env::var(name).ok())
    }

    /// Parses config `text` as if read from `path`, looking variables up with `env`.
    pub fn parse(path: &Path, text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let error = |key: String, message: String| ConfigError { file: path.to_owned(), key, message };
        let text = env::interpolate(text, &env).map_err(|e| error(format!("line {}", e.line), e.to_string()))?;
        let deserializer =
            toml::Deserializer::parse(&text).map_err(|e| error(location(&text, &e), e.message().to_owned()))?;
        let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let at = location(&text, &inner);
            error(if key == "." { at } else { format!("{key} ({at})") }, inner.message().to_owned())
        })?;
        config.check().map_err(|(key, message)| error(key, message))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        for (name, pipeline) in &mut config.pipelines {
            for (i, plugin) in pipeline.plugins.iter_mut().enumerate() {
                plugin
                    .grants
                    .resolve(&env)
                    .map_err(|(k, m)| error(format!("pipelines.{name}.plugins[{i}].grants.{k}"), m))?;
            }
        }
        Ok(config)
    }

    fn check(&self) -> Result<(), (String, String)> {
        if self.pipelines.is_empty() {
            return Err(("pipelines".into(), "no pipeline is defined: there is nothing to run".into()));
        }
        let list =
            |names: &mut dyn Iterator<Item = &String>| names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        let mut used_sources = BTreeSet::new();
        for (name, p) in &self.pipelines {
            let key = |k: &str| format!("pipelines.{name}.{k}");
            if !self.sources.contains_key(&p.source) {
                let known = list(&mut self.sources.keys());
                return Err((key("source"), format!("no source is named `{}` (sources: {known})", p.source)));
            }
            if !used_sources.insert(&p.source) {
                return Err((key("source"), format!("source `{}` already feeds another pipeline", p.source)));
            }
            let sink = |k: String, sink: &String| match self.sinks.contains_key(sink) {
                true => Ok(()),
                false => Err((k, format!("no sink is named `{sink}` (sinks: {})", list(&mut self.sinks.keys())))),
            };
            sink(key("dead_letter"), &p.dead_letter)?;
            self.check_dead_letter_format(name, &p.dead_letter)?;
            for (route, sinks) in &p.routes {
                if sinks.is_empty() {
                    return Err((key(&format!("routes.{route}")), "a route needs at least one sink".into()));
                }
                for (i, s) in sinks.iter().enumerate() {
                    sink(key(&format!("routes.{route}[{i}]")), s)?;
                }
            }
            if let Some(default) = &p.default_route
                && !p.routes.contains_key(default)
            {
                let known = list(&mut p.routes.keys());
                return Err((key("default_route"), format!("no route is named `{default}` (routes: {known})")));
            }
            if p.workers == Some(0) {
                return Err((key("workers"), "must be at least 1".into()));
            }
            if p.batch_size == 0 || p.batch_size > MAX_BATCH_SIZE {
                return Err((key("batch_size"), format!("must be between 1 and {MAX_BATCH_SIZE}")));
            }
            self.check_delivery(name, p).map_err(|(k, m)| (key(k), m))?;
            for (i, plugin) in p.plugins.iter().enumerate() {
                let key = key(&format!("plugins[{i}]"));
                if !is_plugin_name(&plugin.name) {
                    return Err((
                        format!("{key}.name"),
                        format!(
                            "`{}` is not a plugin name: use the file stem of a .wasm file in the plugins directory",
                            plugin.name
                        ),
                    ));
                }
                flatten_plugin_config(&plugin.config).map_err(|(k, m)| (format!("{key}.config.{k}"), m))?;
                self.host
                    .plugin_limits
                    .with_overrides(&plugin.limits)
                    .map_err(|(k, m)| (format!("{key}.limits.{k}"), m))?;
            }
        }
        for (name, source) in &self.sources {
            let key = |k: &str| format!("sources.{name}.{k}");
            match source {
                SourceConfig::Generator { rate: Some(rate), .. } if !(rate.is_finite() && *rate > 0.0) => {
                    return Err((key("rate"), "must be a positive number of records per second".into()));
                }
                SourceConfig::Kafka(kafka) => kafka.check().map_err(|(k, m)| (key(&k), m))?,
                SourceConfig::File { max_line_bytes, .. } | SourceConfig::Stdin { max_line_bytes, .. }
                    if max_line_bytes.as_u64() == 0 || *max_line_bytes > MAX_LINE_BYTES =>
                {
                    return Err((key("max_line_bytes"), format!("must be between 1 B and {MAX_LINE_BYTES}")));
                }
                _ => {}
            }
        }
        for (name, sink) in &self.sinks {
            if let SinkConfig::Kafka(kafka) = sink {
                kafka.check().map_err(|(k, m)| (format!("sinks.{name}.{k}"), m))?;
                let dead_letter_of = self.pipelines.iter().find(|(_, p)| &p.dead_letter == name);
                if let (None, Some((pipeline, _))) = (&kafka.topic, dead_letter_of) {
                    return Err((
                        format!("sinks.{name}.topic"),
                        format!(
                            "the sink is pipeline `{pipeline}`'s dead_letter, whose records have no route: give it a topic"
                        ),
                    ));
                }
            }
        }
        if self.host.status_interval.is_zero() {
            return Err(("host.status_interval".into(), "must be longer than zero".into()));
        }
        self.host.plugin_limits.check().map_err(|(k, m)| (format!("host.plugin_limits.{k}"), m))?;
        self.host.plugin_compile.check().map_err(|(k, m)| (format!("host.plugin_compile.{k}"), m))?;
        self.check_dead_letter_cycles()
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.host.plugins_dir);
        resolve(&mut self.host.data_dir);
        for source in self.sources.values_mut() {
            if let SourceConfig::File { path, .. } = source {
                resolve(path);
            }
        }
        for sink in self.sinks.values_mut() {
            if let SinkConfig::File { path, .. } = sink {
                resolve(path);
            }
        }
        for plugin in self.pipelines.values_mut().flat_map(|p| &mut p.plugins) {
            plugin.grants.read_dirs.values_mut().for_each(resolve);
        }
    }
}

/// "line L, column C" for a TOML error, or "(document)" when it has no position.
fn location(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}")
        }
        None => "(document)".into(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
