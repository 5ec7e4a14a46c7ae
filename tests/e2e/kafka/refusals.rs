//! What the Kafka sink does with each kind of failed delivery: a record the broker will
//! never take is dead-lettered with the broker's reason while the rest flows on; a
//! producer that can send nothing more is replaced, with nothing dead-lettered; an error
//! not known to be transient is tried a bounded number of times, then dead-lettered with
//! a reason that says so.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use super::*;
use crate::harness::*;

const N: u64 = 200;
/// The record whose create time is a day ahead.
const AHEAD: u64 = 100;

/// [`N`] keyed events, [`AHEAD`] stamped a day ahead of now.
fn events_with_one_a_day_ahead() -> Vec<TestRecord> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    keyed_events(N, 0)
        .enumerate()
        .map(|(id, mut record)| {
            if id as u64 == AHEAD {
                record.timestamp = Some(now + 24 * 3_600_000);
            }
            record
        })
        .collect()
}

/// Topics for [`kafka_pipeline`] whose output and dead-letter topics take create times
/// at most an hour ahead, and the input, which takes any, with one record a day ahead
/// (the plugin passes its timestamp on).
fn topics_with_a_timestamp_limit(broker: &Broker) {
    let an_hour = [("message.timestamp.after.max.ms", "3600000")];
    broker.create_topic_with("in", 2, &[("message.timestamp.after.max.ms", &i64::MAX.to_string())]);
    broker.create_topic_with("out", 2, &an_hour);
    broker.create_topic_with("dlq", 1, &an_hour);
    broker.produce("in", events_with_one_a_day_ahead());
    assert_eq!(broker.end_offsets("in"), N as i64, "the input topic took every record");
}

/// Every record but [`AHEAD`] once in `out`, and [`AHEAD`] alone in `dlq`, refused by
/// `sink out` with a reason containing `why`. The dead-letter topic refuses the full
/// dead letter too, for its timestamp, so it is written slim, stamped now.
fn assert_only_the_one_ahead_is_dead_lettered(broker: &Broker, running: &Running, why: &str) {
    let dead = broker.consume("dlq", 1, Duration::from_secs(60));
    let out = broker.consume("out", N as usize - 1, Duration::from_secs(60));
    let (counts, by_key) = ids_by_key(&out);
    let missing: Vec<u64> = (0..N).filter(|id| *id != AHEAD && !counts.contains_key(id)).collect();
    assert!(missing.is_empty(), "missing from out: {missing:?}\n{}", running.log());
    let taken: Vec<&TestRecord> = out.iter().filter(|r| r.header("seq") == Some(&AHEAD.to_string())).collect();
    assert!(taken.is_empty(), "the broker never takes it: {taken:?}");
    assert_first_arrivals_in_order(by_key);
    assert_eq!(dead.len(), 1, "{dead:?}\n{}", running.log());
    let stamped: i64 = dead[0]
        .header("sluice.timestamp")
        .unwrap_or_else(|| panic!("the original timestamp: {dead:?}"))
        .parse()
        .unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!(stamped > now + 23 * 3_600_000, "the record a day ahead: {dead:?}");
    assert_eq!(dead[0].header("sluice.sink"), Some("out"));
    let reason = dead[0].header("sluice.error").unwrap();
    assert!(reason.contains(why), "the reason says why: {reason}");
    let slim = dead[0].header("sluice.dead_letter").unwrap();
    assert!(slim.contains("Invalid timestamp"), "why it is slim: {slim}");
}

#[test]
fn a_timestamp_the_output_topic_never_takes_is_dead_lettered_and_the_rest_flows_on() {
    let broker = Broker::kafka();
    topics_with_a_timestamp_limit(&broker);
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(kafka_pipeline(&broker, "ahead", ""));
    let mut running = scratch.start();
    assert_only_the_one_ahead_is_dead_lettered(&broker, &running, "Invalid timestamp");
    assert_eq!(running.child.try_wait().unwrap(), None, "the host runs on:\n{}", running.log());
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
}

#[test]
fn exactly_once_refuses_a_timestamp_the_output_topic_never_takes_before_it_dooms_the_transaction() {
    let broker = Broker::kafka();
    topics_with_a_timestamp_limit(&broker);
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(exactly_once(kafka_pipeline(&broker, "ahead-eos", ""), &broker.group("ahead-eos")));
    let mut running = scratch.start();
    assert_only_the_one_ahead_is_dead_lettered(&broker, &running, "(its message.timestamp.after.max.ms)");
    let log = running.log();
    assert!(!log.contains("the transaction failed"), "no transaction was aborted:\n{log}");
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
}

#[test]
fn a_producer_hit_by_a_fatal_error_is_replaced_and_nothing_is_dead_lettered() {
    let broker = Broker::mock().with_pipeline_topics(2);
    broker.produce("in", keyed_events(N, 0));
    // An idempotent producer whose producer id the cluster refuses can send nothing more
    // (librdkafka raises a fatal error): the output sink's and the dead-letter sink's.
    broker.fail_requests(
        RDKafkaApiKey::InitProducerId,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED; 2],
    );
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(kafka_pipeline(&broker, "fatal", ""));
    let mut running = scratch.start();
    let out = broker.consume("out", N as usize, Duration::from_secs(60));
    let (counts, _) = ids_by_key(&out);
    assert_none_missing(&counts, N, &running.log());
    let log = running.log();
    assert!(log.contains("the Kafka producer hit a fatal error; replacing it"), "{log}");
    assert_eq!(broker.end_offsets("dlq"), 0, "nothing was wrong with any record:\n{log}");
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
}

#[test]
fn an_error_not_known_to_be_transient_is_tried_a_few_times_then_dead_lettered_saying_so() {
    let broker = Broker::mock();
    broker.create_topic("in", 1);
    broker.create_topic("out", 1);
    const FIRST: u64 = 20;
    broker.produce("in", keyed_events(FIRST, 0));
    // Every produce request fails with an error the sink has no verdict for. The dead
    // letters go to a file, whose writes the injected errors do not touch.
    broker.fail_requests(RDKafkaApiKey::Produce, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_REQUEST; 1_000]);
    let scratch = Scratch::with_plugins(&["json-validate"]);
    let (source, out) = (broker.source_table("unknown", "in"), broker.sink_table("out"));
    let plugins = r#"[{ name = "json-validate", config = { require = "id" } }]"#;
    scratch.config(one_pipeline(&source, plugins, &out, "default_route = \"out\""));
    let mut running = scratch.start();
    running.eventually(Duration::from_secs(60), "every record dead-lettered", || {
        scratch.read_envelopes("out/dlq.jsonl").len() >= FIRST as usize
    });
    for dead in scratch.read_envelopes("out/dlq.jsonl") {
        let reason = header(&dead, "sluice.error").unwrap();
        assert!(
            reason.contains("kafka refused the record 4 times with an error not known to be transient")
                && reason.contains("Invalid request"),
            "{reason}"
        );
    }

    // Once the broker takes records again, they flow.
    broker.clear_failures(RDKafkaApiKey::Produce);
    broker.produce("in", keyed_events_in(FIRST..2 * FIRST, 0));
    let delivered = broker.consume("out", FIRST as usize, Duration::from_secs(60));
    let (counts, _) = ids_by_key(&delivered);
    assert!((FIRST..2 * FIRST).all(|id| counts.contains_key(&id)), "{counts:?}\n{}", running.log());
    assert_eq!(scratch.read_envelopes("out/dlq.jsonl").len(), FIRST as usize, "nothing more dead-lettered");
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
}

/// The dead-letter topic's `max.message.bytes` in the test of slim dead letters.
const DLQ_LIMIT: usize = 20_000;

#[test]
fn dead_letters_too_large_for_their_topic_are_written_slim_and_long_reasons_are_cut() {
    let broker = Broker::kafka();
    broker.create_topic("in", 1);
    broker.create_topic("out", 1);
    broker.create_topic_with("dlq", 1, &[("max.message.bytes", &DLQ_LIMIT.to_string())]);
    // A record that fits the dead-letter topic by itself but not with the headers a dead
    // letter adds (it is not JSON, so `json-validate` rejects it), and one that
    // `misbehave` rejects with a 2 MiB reason, among good records.
    let big = format!("{{\"id\":3,\"pad\":\"{}", "p".repeat(DLQ_LIMIT - 300));
    let input = (0..6u64).map(|id| match id {
        1 => TestRecord::new("k", "longreject".into(), &[("seq", id.to_string())]),
        3 => TestRecord::new("k", big.clone(), &[("seq", id.to_string())]),
        _ => TestRecord::new("k", format!("{{\"id\":{id}}}"), &[("seq", id.to_string())]),
    });
    broker.produce("in", input);
    let scratch = Scratch::with_plugins(&["misbehave", "json-validate"]);
    let config = kafka_pipeline(&broker, "slim", "").replace(
        r#"plugins = [{ name = "json-validate", config = { require = "id" } }]"#,
        r#"plugins = [{ name = "misbehave" }, { name = "json-validate", config = { require = "id" } }]"#,
    );
    assert!(config.contains("\"misbehave\""), "{config}");
    let dlq = format!("topic = \"{}\"\n", broker.topic("dlq"));
    scratch.config(config.replace(&dlq, &format!("{dlq}compression = \"none\"\n")));
    let mut running = scratch.start();

    let dead = broker.consume("dlq", 2, Duration::from_secs(60));
    let out = broker.consume("out", 4, Duration::from_secs(60));
    let log = running.log();
    // A slim dead letter has only the `sluice.*` headers: its offset at the source is its seq.
    let seqs = |records: &[TestRecord]| {
        records.iter().map(|r| r.header("seq").or(r.header("sluice.offset")).unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(seqs(&out), ["0", "2", "4", "5"], "{log}");
    assert_eq!(seqs(&dead), ["1", "3"], "{log}");

    let reason = dead[0].header("sluice.error").unwrap();
    assert!(reason.len() <= 4096 && reason.ends_with("more bytes cut]"), "a cut reason: {} bytes", reason.len());
    assert!(reason.contains("asked to reject at length"), "{reason}");
    assert_eq!(dead[0].value, "longreject", "a dead letter with a cut reason is whole otherwise");

    let slim = &dead[1];
    assert_eq!(slim.value, "", "the value is left out");
    assert_eq!(slim.header("sluice.value_bytes"), Some(big.len().to_string().as_str()));
    assert_eq!(slim.header("sluice.offset"), Some("3"), "where the record is at its source");
    assert!(slim.header("sluice.error").unwrap().to_lowercase().contains("json"), "why it was rejected: {slim:?}");
    let why = slim.header("sluice.dead_letter").unwrap();
    assert!(why.contains("Message size too large"), "why it was written slim: {why}");

    assert_eq!(running.child.try_wait().unwrap(), None, "the host runs on:\n{log}");
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
}
