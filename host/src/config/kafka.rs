//! The Kafka connectors' keys, and the rules for `delivery = "exactly-once"`, which ties
//! a pipeline's Kafka source to its one Kafka sink.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

use super::plugin::scalar_text;
use super::{Config, Delivery, PipelineConfig, SinkConfig, SourceConfig};

/// librdkafka's own settings (`security.protocol`, `sasl.*`, `ssl.*`, tuning), passed
/// through as they are. Values may be strings, numbers or booleans.
pub type KafkaProperties = BTreeMap<String, toml::Value>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// `bootstrap.servers`: `host:port[,host:port…]`.
    pub brokers: String,
    /// The consumer group. Every `sluice` process with the same group shares the partitions.
    pub group: String,
    /// Topic names; a name starting with `^` is a regular expression.
    pub topics: Vec<String>,
    /// Where a partition without a committed offset starts: `earliest`, `latest`, or an
    /// RFC 3339 time (the first record at or after it).
    #[serde(default)]
    pub start: StartPosition,
    /// How long a revoked partition may take to deliver what it has in flight before it
    /// is released. Must be shorter than the group's `session.timeout.ms`.
    #[serde(default = "default_drain_timeout", with = "humantime_serde")]
    pub drain_timeout: Duration,
    #[serde(default)]
    pub properties: KafkaProperties,
}

fn default_drain_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Where a consumer group starts reading a partition it has never committed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartPosition {
    #[default]
    Earliest,
    Latest,
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
}

impl<'de> Deserialize<'de> for StartPosition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "earliest" => Ok(StartPosition::Earliest),
            "latest" => Ok(StartPosition::Latest),
            time => humantime::parse_rfc3339_weak(time)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| StartPosition::Timestamp(d.as_millis() as i64))
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "`{time}` is not `earliest`, `latest` or an RFC 3339 time like 2026-11-22T10:00:00Z"
                    ))
                }),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// `bootstrap.servers`: `host:port[,host:port…]`.
    pub brokers: String,
    /// The topic to produce to. Without it, each record goes to the topic named like its
    /// route.
    pub topic: Option<String>,
    /// `compression.type`: `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// `linger.ms`: how long the producer waits to fill a request.
    #[serde(default = "default_linger", with = "humantime_serde")]
    pub linger: Duration,
    /// `batch.size`: the most bytes in one partition's request.
    #[serde(default = "default_kafka_batch")]
    pub batch_bytes: ByteSize,
    /// `message.timeout.ms`: how long a record may take to be delivered, retries included,
    /// before the sink gives up on this attempt and writes it again.
    #[serde(default = "default_delivery_timeout", with = "humantime_serde")]
    pub delivery_timeout: Duration,
    #[serde(default)]
    pub properties: KafkaProperties,
}

fn default_compression() -> String {
    "lz4".into()
}

fn default_linger() -> Duration {
    Duration::from_millis(5)
}

fn default_kafka_batch() -> ByteSize {
    ByteSize::mib(1)
}

fn default_delivery_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Config {
    /// The sink whose transactions carry an exactly-once pipeline's offsets: the one
    /// Kafka sink among its routes' sinks.
    pub fn transactional_sink<'a>(&'a self, pipeline: &'a PipelineConfig) -> Option<&'a str> {
        if pipeline.delivery != Delivery::ExactlyOnce {
            return None;
        }
        self.kafka_route_sinks(pipeline).into_iter().next().map(String::as_str)
    }

    fn kafka_route_sinks<'a>(&'a self, pipeline: &'a PipelineConfig) -> BTreeSet<&'a String> {
        pipeline.routes.values().flatten().filter(|s| matches!(self.sinks[*s], SinkConfig::Kafka(_))).collect()
    }

    pub(super) fn check_delivery(&self, name: &str, p: &PipelineConfig) -> Result<(), (&'static str, String)> {
        if p.delivery == Delivery::AtLeastOnce {
            for (key, set) in [
                ("transaction_interval", p.transaction_interval.is_some()),
                ("transactional_id", p.transactional_id.is_some()),
            ] {
                if set {
                    return Err((key, "applies only to `delivery = \"exactly-once\"`".into()));
                }
            }
            return Ok(());
        }
        let SourceConfig::Kafka(source) = &self.sources[&p.source] else {
            return Err(("delivery", format!("exactly-once needs a Kafka source; `{}` is not one", p.source)));
        };
        let sink = match self.kafka_route_sinks(p).into_iter().collect::<Vec<_>>()[..] {
            [sink] => sink,
            [] => return Err(("delivery", "exactly-once needs a route to a Kafka sink; there is none".into())),
            ref several => {
                let names = several.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
                return Err((
                    "delivery",
                    format!("exactly-once commits through one Kafka sink, but the routes reach {names}"),
                ));
            }
        };
        let SinkConfig::Kafka(sink_config) = &self.sinks[sink] else { unreachable!("filtered to Kafka sinks") };
        if sink_config.brokers != source.brokers {
            return Err((
                "delivery",
                format!(
                    "exactly-once commits the source's offsets through sink `{sink}`'s cluster, so both need the same `brokers` (`{}` and `{}`)",
                    source.brokers, sink_config.brokers
                ),
            ));
        }
        let shared = self.pipelines.iter().find(|(other, q)| {
            *other != name && (q.dead_letter == *sink || q.routes.values().flatten().any(|s| s == sink))
        });
        if let Some((other, _)) = shared {
            return Err((
                "delivery",
                format!("sink `{sink}` carries this pipeline's transactions and cannot also serve pipeline `{other}`"),
            ));
        }
        if p.transactional_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            return Err(("transactional_id", "must not be empty".into()));
        }
        let (interval, timeout) =
            (p.transaction_interval.unwrap_or(super::DEFAULT_TRANSACTION_INTERVAL), sink_config.transaction_timeout());
        if sink_config.delivery_timeout > timeout {
            return Err((
                "delivery",
                format!(
                    "sink `{sink}`'s delivery_timeout ({:?}) is longer than its transactions' timeout ({timeout:?}, its transaction.timeout.ms): a record would outlive its transaction; shorten the one or lengthen the other",
                    sink_config.delivery_timeout
                ),
            ));
        }
        // A transaction waits for the pipeline's other sinks until ¾ of its timeout
        // (sink::driver::transactional): it must be committed well before that.
        if interval > timeout / 2 {
            return Err((
                "transaction_interval",
                format!(
                    "is {interval:?}, but sink `{sink}`'s transactions time out after {timeout:?} (its transaction.timeout.ms): commit at least twice as often, or every transaction would be aborted before it commits"
                ),
            ));
        }
        Ok(())
    }
}

impl KafkaSinkConfig {
    /// `transaction.timeout.ms`, or librdkafka's default: how long the broker lets a
    /// transaction stay open before it aborts it.
    pub fn transaction_timeout(&self) -> Duration {
        kafka_property(&self.properties, "transaction.timeout.ms")
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::from_secs(60), Duration::from_millis)
    }
}

impl KafkaSourceConfig {
    pub(super) fn check(&self) -> Result<(), (String, String)> {
        check_brokers(&self.brokers)?;
        if self.group.trim().is_empty() {
            return Err(("group".into(), "must name a consumer group".into()));
        }
        if self.topics.is_empty() || self.topics.iter().any(|t| t.is_empty()) {
            return Err(("topics".into(), "must list at least one topic name or ^pattern, none empty".into()));
        }
        check_properties(
            &self.properties,
            &["bootstrap.servers", "group.id", "enable.auto.offset.store", "enable.auto.commit"],
        )?;
        let session = kafka_property(&self.properties, "session.timeout.ms")
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::from_secs(45), Duration::from_millis);
        if self.drain_timeout.is_zero() || self.drain_timeout >= session {
            return Err((
                "drain_timeout".into(),
                format!("must be longer than zero and shorter than the session timeout ({session:?})"),
            ));
        }
        Ok(())
    }
}

impl KafkaSinkConfig {
    pub(super) fn check(&self) -> Result<(), (String, String)> {
        check_brokers(&self.brokers)?;
        if self.topic.as_deref() == Some("") {
            return Err(("topic".into(), "must not be empty; leave it out to use each record's route".into()));
        }
        if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&self.compression.as_str()) {
            return Err(("compression".into(), "must be one of none, gzip, snappy, lz4, zstd".into()));
        }
        if self.delivery_timeout.is_zero() {
            return Err(("delivery_timeout".into(), "must be longer than zero".into()));
        }
        check_properties(&self.properties, &["bootstrap.servers", "transactional.id"])
    }
}

fn check_brokers(brokers: &str) -> Result<(), (String, String)> {
    match brokers.trim().is_empty() {
        true => Err(("brokers".into(), "must list at least one host:port".into())),
        false => Ok(()),
    }
}

/// Properties must be scalars, and must not set what Sluice sets from its own keys.
fn check_properties(properties: &KafkaProperties, managed: &[&str]) -> Result<(), (String, String)> {
    for (name, value) in properties {
        let key = format!("properties.\"{name}\"");
        if managed.contains(&name.as_str()) {
            return Err((key, "is set by Sluice from the connector's own keys".into()));
        }
        if scalar_text(value).is_none() {
            return Err((key, "must be a string, number or boolean".into()));
        }
    }
    Ok(())
}

/// A property's value in librdkafka's spelling.
pub fn kafka_property(properties: &KafkaProperties, name: &str) -> Option<String> {
    properties.get(name).map(|value| scalar_text(value).expect("config check refuses non-scalar properties"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{VALID, error_of, parse};

    #[test]
    fn kafka_connectors_are_checked_key_by_key() {
        let kafka = VALID.replace(
            "type = \"generator\"\ncount = 10\nrate = 100.0",
            "type = \"kafka\"\nbrokers = \"b:9092\"\ngroup = \"g\"\ntopics = [\"t\"]",
        );
        let config = parse(&kafka).unwrap();
        let SourceConfig::Kafka(source) = &config.sources["gen"] else { panic!() };
        assert_eq!((source.start, source.drain_timeout), (StartPosition::Earliest, Duration::from_secs(10)));
        let err =
            error_of(&kafka.replace("topics = [\"t\"]", "topics = [\"t\"]\nproperties = { \"group.id\" = \"x\" }"));
        assert_eq!(
            err,
            "/etc/sluice/sluice.toml: sources.gen.properties.\"group.id\": is set by Sluice from the connector's own keys"
        );
        let err = error_of(&kafka.replace("topics = [\"t\"]", "topics = [\"t\"]\ndrain_timeout = \"60s\""));
        assert!(err.starts_with("/etc/sluice/sluice.toml: sources.gen.drain_timeout: must be"), "{err}");
        let err = error_of(&kafka.replace("topics = [\"t\"]", "topics = [\"t\"]\nstart = \"yesterday\""));
        assert!(err.contains("sources.gen (line") && err.contains("`yesterday` is not `earliest`"), "{err}");
        let time = kafka.replace("topics = [\"t\"]", "topics = [\"t\"]\nstart = \"2026-11-22T10:00:00Z\"");
        let SourceConfig::Kafka(source) = &parse(&time).unwrap().sources["gen"] else { panic!() };
        assert_eq!(source.start, StartPosition::Timestamp(1_795_341_600_000));
        let sink =
            VALID.replace("type = \"file\"\npath = \"/var/dlq.jsonl\"", "type = \"kafka\"\nbrokers = \"b:9092\"");
        let err = error_of(&sink);
        assert!(
            err.starts_with("/etc/sluice/sluice.toml: sinks.dlq.topic: the sink is pipeline `main`'s dead_letter"),
            "{err}"
        );
    }

    #[test]
    fn exactly_once_needs_a_kafka_source_and_one_unshared_kafka_sink_on_the_same_brokers() {
        let kafka = |sink_brokers: &str| {
            VALID
                .replace(
                    "type = \"generator\"\ncount = 10\nrate = 100.0",
                    "type = \"kafka\"\nbrokers = \"b:9092\"\ngroup = \"g\"\ntopics = [\"t\"]",
                )
                .replace(
                    "type = \"file\"\npath = \"out/good.jsonl\"",
                    &format!("type = \"kafka\"\nbrokers = \"{sink_brokers}\""),
                )
                .replace("batch_size = 100", "batch_size = 100\ndelivery = \"exactly-once\"")
        };
        let config = parse(&kafka("b:9092")).unwrap();
        let pipeline = &config.pipelines["main"];
        assert_eq!(config.transactional_sink(pipeline), Some("good"));
        assert_eq!(pipeline.delivery, Delivery::ExactlyOnce);

        let err = error_of(&kafka("other:9092"));
        assert!(err.starts_with("/etc/sluice/sluice.toml: pipelines.main.delivery: exactly-once commits the source's offsets through sink `good`'s cluster"), "{err}");
        let err = error_of(&VALID.replace("batch_size = 100", "batch_size = 100\ndelivery = \"exactly-once\""));
        assert_eq!(
            err,
            "/etc/sluice/sluice.toml: pipelines.main.delivery: exactly-once needs a Kafka source; `gen` is not one"
        );
        let err = error_of(&VALID.replace("batch_size = 100", "batch_size = 100\ntransactional_id = \"x\""));
        assert_eq!(
            err,
            "/etc/sluice/sluice.toml: pipelines.main.transactional_id: applies only to `delivery = \"exactly-once\"`"
        );
        let two_kafka_sinks = kafka("b:9092").replace(
            "type = \"file\"\npath = \"/var/dlq.jsonl\"",
            "type = \"kafka\"\nbrokers = \"b:9092\"\ntopic = \"dlq\"",
        );
        let err = error_of(&two_kafka_sinks);
        assert!(
            err.ends_with("exactly-once commits through one Kafka sink, but the routes reach `dlq`, `good`"),
            "{err}"
        );

        let sink = "brokers = \"b:9092\"\n\n[sinks.dlq]";
        let slow = kafka("b:9092")
            .replace(sink, "brokers = \"b:9092\"\nproperties = { \"transaction.timeout.ms\" = 5000 }\ndelivery_timeout = \"5s\"\n\n[sinks.dlq]")
            .replace("delivery = \"exactly-once\"", "delivery = \"exactly-once\"\ntransaction_interval = \"5s\"");
        assert!(slow.contains("transaction_interval = \"5s\"") && slow.contains("= 5000 }"), "{slow}");
        let err = error_of(&slow);
        assert_eq!(
            err,
            "/etc/sluice/sluice.toml: pipelines.main.transaction_interval: is 5s, but sink `good`'s transactions time out after 5s (its transaction.timeout.ms): commit at least twice as often, or every transaction would be aborted before it commits"
        );
        assert!(
            error_of(&slow.replace("transaction_interval = \"5s\"", "transaction_interval = \"2501ms\""))
                .contains("is 2.501s")
        );
        parse(&slow.replace("transaction_interval = \"5s\"", "transaction_interval = \"2500ms\"")).unwrap();
        let err = error_of(&slow.replace("delivery_timeout = \"5s\"", "delivery_timeout = \"6s\""));
        assert!(err.contains("sink `good`'s delivery_timeout (6s) is longer than its transactions' timeout (5s, its transaction.timeout.ms)"), "{err}");
    }
}
