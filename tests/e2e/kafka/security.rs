//! Security properties pass through to librdkafka: a pipeline reads and writes over the
//! broker's SASL_PLAINTEXT listener (mechanism PLAIN), and wrong credentials are reported.

use std::time::Duration;

use super::*;
use crate::harness::*;

/// [`kafka_pipeline`] over the SASL listener with `password`.
fn sasl_pipeline(broker: &Broker, group: &str, password: &str) -> String {
    let sasl = format!(
        "properties = {{ \"security.protocol\" = \"SASL_PLAINTEXT\", \"sasl.mechanism\" = \"PLAIN\", \"sasl.username\" = \"sluice\", \"sasl.password\" = \"{password}\" }}"
    );
    kafka_pipeline(broker, group, &sasl)
        .replace(&broker.address(), &broker.sasl_address())
        .replace(
            &format!("topic = \"{}\"\n", broker.topic("out")),
            &format!("topic = \"{}\"\n{sasl}\n", broker.topic("out")),
        )
        .replace(
            &format!("topic = \"{}\"\n", broker.topic("dlq")),
            &format!("topic = \"{}\"\n{sasl}\n", broker.topic("dlq")),
        )
}

#[test]
fn a_pipeline_authenticates_with_sasl_plain() {
    let broker = Broker::kafka().with_pipeline_topics(2);
    const N: u64 = 2_000;
    broker.produce("in", keyed_events(N, 0));
    let scratch = Scratch::with_plugins(&["json-validate"]);
    let config = sasl_pipeline(&broker, "sasl", "sluice-secret");
    assert_eq!(config.matches("SASL_PLAINTEXT").count(), 3, "source and both sinks use SASL:\n{config}");
    assert!(!config.contains(&broker.address()), "nothing goes to the PLAINTEXT listener:\n{config}");
    scratch.config(config);
    let running = scratch.start();
    let out = broker.consume("out", N as usize, Duration::from_secs(60));
    let (counts, _) = ids_by_key(&out);
    assert_none_missing(&counts, N, &running.log());
}

#[test]
fn wrong_sasl_credentials_are_reported_and_nothing_is_read() {
    let broker = Broker::kafka().with_pipeline_topics(1);
    broker.produce("in", keyed_events(10, 0));
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(sasl_pipeline(&broker, "sasl-wrong", "not-the-password"));
    let mut running = scratch.start();
    running.wait_for_log("Authentication failed", Duration::from_secs(60));
    assert!(!running.log().contains("partition assigned"), "{}", running.log());
    running.signal(libc::SIGTERM);
    running.wait(Duration::from_secs(30));
    assert!(broker.consume("out", 1, Duration::from_secs(2)).is_empty());
}
