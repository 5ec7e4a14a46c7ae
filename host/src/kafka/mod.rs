//! What the Kafka source and sink share: client settings, librdkafka's own logs and
//! errors routed into ours, consumed [`headers`] read without rdkafka's panicking accessor,
//! and, in an exactly-once pipeline, the [`exactly_once`] link
//! that carries the source's offsets into the sink's transactions.

pub mod exactly_once;
pub mod headers;

use rdkafka::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

use crate::config::{KafkaProperties, kafka_property};

/// A client config with the connector's `brokers`, Sluice's defaults, then the user's
/// `properties` on top (they win, except for what the connector manages itself, which
/// the config check refuses).
pub fn client_config(brokers: &str, defaults: &[(&str, String)], properties: &KafkaProperties) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (name, value) in defaults {
        config.set(*name, value);
    }
    for name in properties.keys() {
        config.set(name, kafka_property(properties, name).expect("the key exists"));
    }
    config
}

/// librdkafka's log lines and client-wide errors (broker down, authentication failed),
/// in Sluice's log with the connector's name.
pub fn log(connector: &str, level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
            tracing::error!(connector, facility, "librdkafka: {message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(connector, facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::info!(connector, facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Debug => tracing::debug!(connector, facility, "librdkafka: {message}"),
    }
}

/// A client-wide error. librdkafka retries on its own (reconnects, re-resolves), so these
/// are reported, not acted on; records stay unacknowledged until they get through.
pub fn error(connector: &str, error: KafkaError, reason: &str) {
    tracing::warn!(connector, %error, "kafka: {reason}");
}
