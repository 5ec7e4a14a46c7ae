//! Records against size limits: the producer's own `message.max.bytes` and the topic's
//! `max.message.bytes`, which the broker holds against whole record batches. A record
//! too large goes to the dead-letter topic with the reason; its neighbours are delivered,
//! at-least-once and exactly-once.

use std::time::Duration;

use super::*;
use crate::harness::*;

/// The output topic's `max.message.bytes` in these tests.
const LIMIT: usize = 20_000;

/// The size of a batch holding only `record`, uncompressed, as Kafka's
/// `DefaultRecordBatch` writes it: a 61-byte header, then the record, whose lengths are
/// zigzag varints.
fn one_record_batch(record: &TestRecord) -> usize {
    let varint = |n: usize| ((2 * n as u64).max(1).ilog2() as usize) / 7 + 1;
    let field = |len: usize| varint(len) + len;
    let key = record.key.as_ref().map_or(1, |k| field(k.len()));
    let headers: usize = record.headers.iter().map(|(k, v)| field(k.len()) + field(v.len())).sum();
    let body = 3 + key + field(record.value.len()) + varint(record.headers.len()) + headers;
    61 + varint(body) + body
}

/// A JSON event with `seq` and hex digits that no codec shrinks much, `pad` of them.
fn event(seq: u64, pad: usize) -> TestRecord {
    let mut state = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let digits: String = (0..pad)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from_digit((state % 16) as u32, 16).unwrap()
        })
        .collect();
    TestRecord::new(
        &format!("k{}", seq % 5),
        format!("{{\"id\":{seq},\"pad\":\"{digits}\"}}"),
        &[("seq", seq.to_string())],
    )
}

/// An event whose batch of one is exactly `size` bytes.
fn event_of_size(seq: u64, size: usize) -> TestRecord {
    // A first guess, short by the bytes the lengths' varints grow by.
    let guess = size - one_record_batch(&event(seq, 0));
    let record = event(seq, guess - (one_record_batch(&event(seq, guess)) - size));
    assert_eq!(one_record_batch(&record), size);
    record
}

/// 300 events of about 1 KB, so that the sink's batches are well over [`LIMIT`], with
/// one whose batch of one is exactly the limit (seq 100) and one a byte over (seq 200).
fn input() -> Vec<TestRecord> {
    (0..300)
        .map(|seq| match seq {
            100 => event_of_size(seq, LIMIT),
            200 => event_of_size(seq, LIMIT + 1),
            _ => event(seq, 1_000),
        })
        .collect()
}

/// [`kafka_pipeline`] with an output topic that takes batches of at most [`LIMIT`] bytes
/// and a sink that does not compress, so that sizes are exact; `sink_extra` goes into
/// the output sink's table.
fn limited_pipeline(broker: &Broker, group: &str, sink_extra: &str) -> String {
    broker.create_topic("in", 1);
    broker.create_topic_with("out", 1, &[("max.message.bytes", &LIMIT.to_string())]);
    broker.create_topic("dlq", 1);
    broker.produce("in", input());
    with_out_sink_settings(broker, kafka_pipeline(broker, group, ""), &format!("compression = \"none\"\n{sink_extra}"))
}

/// `config` (a [`kafka_pipeline`]) with `settings` in the table of its sink `out`.
fn with_out_sink_settings(broker: &Broker, config: String, settings: &str) -> String {
    let topic = format!("topic = \"{}\"\n", broker.topic("out"));
    assert!(config.contains(&topic), "{config}");
    config.replace(&topic, &format!("{topic}{settings}\n"))
}

/// Checks that everything but seq 200 arrived in `out`, each once, and that seq 200 is
/// in `dlq` with a reason containing `reason`; `running`'s log explains a failure.
fn assert_only_the_oversized_record_refused(broker: &Broker, reason: &str, running: &Running) {
    let out = broker.consume("out", 299, Duration::from_secs(60));
    let mut seqs: Vec<u64> = out.iter().map(|r| r.header("seq").unwrap().parse().unwrap()).collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (0..300).filter(|&seq| seq != 200).collect();
    assert_eq!(seqs, expected, "every record but the one too large, each once\n{}", running.log());
    let at_limit = out.iter().find(|r| r.header("seq") == Some("100")).unwrap();
    assert_eq!(one_record_batch(at_limit), LIMIT, "the record at the limit arrived as it was sent");

    let dead = broker.consume("dlq", 1, Duration::from_secs(30));
    let seqs: Vec<_> = dead.iter().map(|r| r.header("seq").unwrap()).collect();
    assert_eq!(seqs, ["200"], "only the record a byte over the limit is a dead letter\n{}", running.log());
    let why = dead[0].header("sluice.error").unwrap();
    assert!(why.contains(reason), "the reason: {why}");
    assert_eq!(dead[0].header("sluice.sink"), Some("out"));
    let origin = ["sluice.source", "sluice.stream", "sluice.partition", "sluice.offset"].map(|h| dead[0].header(h));
    let topic = broker.topic("in");
    assert_eq!(origin, [Some("input"), Some(&*topic), Some("0"), Some("200")], "where the refused record came from");
}

/// The broker refuses a batch over the topic's limit as a whole, failing the small
/// records in it with the one too large. They are sent again one per batch: the broker
/// takes the record exactly at the limit and every small one, and refuses only the
/// record a byte over it, whose dead letter carries the broker's own error.
#[test]
fn records_refused_with_a_batch_too_large_are_sent_again_alone_and_only_the_oversized_one_is_dead_lettered() {
    let broker = Broker::kafka();
    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(limited_pipeline(&broker, "batch-too-large", ""));
    let running = scratch.start();
    assert_only_the_oversized_record_refused(&broker, "Broker: Message size too large", &running);
    assert!(running.log().contains("sending records one per batch"), "{}", running.log());
}

/// Inside a transaction the broker's refusal would abort it and every replay of it, so
/// an exactly-once sink refuses a record over the topic's limit before producing it,
/// with the same boundary as the broker's (the record at the limit is delivered), and
/// keeps its batches of small records under the limit.
#[test]
fn an_exactly_once_sink_dead_letters_a_record_over_the_topics_limit_instead_of_aborting_forever() {
    let broker = Broker::kafka();
    let scratch = Scratch::with_plugins(&["json-validate"]);
    // The sink's batch_bytes is left at its default (1 MiB): a transaction cannot send a
    // refused batch's records again alone, so its batches are capped at the topic's limit.
    let config = limited_pipeline(&broker, "eos-too-large", "");
    scratch.config(exactly_once(config, &broker.group("eos-too-large")));
    let mut running = scratch.start();
    assert_only_the_oversized_record_refused(&broker, "than the 20000 that topic", &running);
    assert!(running.log().contains("batches capped at the topic's max.message.bytes"), "{}", running.log());
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
    assert!(!running.log().contains("transaction failed"), "{}", running.log());
}

#[test]
fn a_record_over_the_producers_own_limit_goes_to_the_dead_letter_sink_and_the_rest_flows_on() {
    let broker = Broker::kafka().with_pipeline_topics(1);
    let big = format!("{{\"id\":1,\"pad\":\"{}\"}}", "x".repeat(4000));
    let records = [0, 1, 2].map(|id| {
        let value = if id == 1 { big.clone() } else { format!("{{\"id\":{id}}}") };
        TestRecord::new("k", value, &[("seq", id.to_string())])
    });
    broker.produce("in", records);

    let scratch = Scratch::with_plugins(&["json-validate"]);
    let config = kafka_pipeline(&broker, "refusal-test", "");
    scratch.config(with_out_sink_settings(&broker, config, "properties = { \"message.max.bytes\" = 2000 }"));
    let running = scratch.start();
    let out = broker.consume("out", 2, Duration::from_secs(60));
    let seqs: Vec<&str> = out.iter().map(|r| r.header("seq").unwrap()).collect();
    assert_eq!(seqs, ["0", "2"], "the records around the refused one are delivered, in order");
    let dead = broker.consume("dlq", 1, Duration::from_secs(30));
    let seqs: Vec<&str> = dead.iter().map(|r| r.header("seq").unwrap()).collect();
    assert_eq!(seqs, ["1"]);
    assert_eq!(dead[0].header("sluice.sink"), Some("out"));
    assert_eq!(dead[0].header("sluice.pipeline"), Some("main"));
    let reason = dead[0].header("sluice.error").unwrap();
    assert!(reason.contains("too large"), "the producer's reason: {reason}\n{}", running.log());
}
