//! Security properties pass through to librdkafka: a pipeline reads and writes over the
//! broker's SASL_PLAINTEXT listener (mechanism PLAIN) and over its SSL listener, and wrong
//! credentials or a certificate nobody vouches for are reported.

use std::time::Duration;

use super::*;
use crate::harness::*;

/// [`kafka_pipeline`] over the SASL listener with `password`.
fn sasl_pipeline(broker: &Broker, group: &str, password: &str) -> String {
    let sasl = format!(
        "properties = {{ \"security.protocol\" = \"SASL_PLAINTEXT\", \"sasl.mechanism\" = \"PLAIN\", \"sasl.username\" = \"sluice\", \"sasl.password\" = \"{password}\" }}"
    );
    pipeline_over(broker, group, &broker.sasl_address(), &sasl)
}

/// [`kafka_pipeline`] over the SSL listener, trusting the certificates of `ca` (the
/// system's own when `None`).
fn tls_pipeline(broker: &Broker, group: &str, ca: Option<&std::path::Path>) -> String {
    let (address, _) = broker.tls_address_and_ca();
    let ca = ca.map(|ca| format!(", \"ssl.ca.location\" = \"{}\"", ca.display())).unwrap_or_default();
    let tls = format!("properties = {{ \"security.protocol\" = \"SSL\"{ca} }}");
    pipeline_over(broker, group, &address, &tls)
}

/// [`kafka_pipeline`] with every client on `address` and `properties` for the source and
/// both sinks.
fn pipeline_over(broker: &Broker, group: &str, address: &str, properties: &str) -> String {
    let config = kafka_pipeline(broker, group, properties).replace(&broker.address(), address);
    let config = ["out", "dlq"].iter().fold(config, |config, sink| {
        let topic = format!("topic = \"{}\"\n", broker.topic(sink));
        config.replace(&topic, &format!("{topic}{properties}\n"))
    });
    assert_eq!(config.matches(properties).count(), 3, "source and both sinks:\n{config}");
    assert!(!config.contains(&broker.address()), "nothing goes to the PLAINTEXT listener:\n{config}");
    config
}

/// Runs the pipeline `config` gives over 2 000 records and checks that every one arrives.
fn assert_delivers(config: impl FnOnce(&Broker) -> String) {
    let broker = Broker::kafka().with_pipeline_topics(2);
    const N: u64 = 2_000;
    broker.produce("in", keyed_events(N, 0));
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(config(&broker));
    let running = scratch.start();
    let out = broker.consume("out", N as usize, Duration::from_secs(60));
    let (counts, _) = ids_by_key(&out);
    assert_none_missing(&counts, N, &running.log());
}

/// Runs the pipeline `config` gives and checks that `error` is logged and that nothing is
/// read.
fn assert_refused(config: impl FnOnce(&Broker) -> String, error: &str) {
    let broker = Broker::kafka().with_pipeline_topics(1);
    broker.produce("in", keyed_events(10, 0));
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(config(&broker));
    let mut running = scratch.start();
    running.wait_for_log(error, Duration::from_secs(60));
    assert!(!running.log().contains("partition assigned"), "{}", running.log());
    running.signal(libc::SIGTERM);
    running.wait(Duration::from_secs(30));
    assert!(broker.consume("out", 1, Duration::from_secs(2)).is_empty());
}

#[test]
fn a_pipeline_authenticates_with_sasl_plain() {
    assert_delivers(|broker| sasl_pipeline(broker, "sasl", "sluice-secret"));
}

#[test]
fn wrong_sasl_credentials_are_reported_and_nothing_is_read() {
    assert_refused(|broker| sasl_pipeline(broker, "sasl-wrong", "not-the-password"), "Authentication failed");
}

#[test]
fn a_pipeline_reads_and_writes_over_tls() {
    assert_delivers(|broker| tls_pipeline(broker, "tls", Some(&broker.tls_address_and_ca().1)));
}

#[test]
fn a_broker_certificate_no_trusted_authority_signed_is_reported_and_nothing_is_read() {
    assert_refused(|broker| tls_pipeline(broker, "tls-untrusted", None), "certificate verify failed");
}
