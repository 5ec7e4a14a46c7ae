//! A Kafka → plugin → Kafka pipeline: every record arrives once, with its key and headers,
//! in order per key; rejects land in the dead-letter topic with their reasons (records a
//! sink refuses as too large are in `sizes.rs`).

use std::time::Duration;

use super::*;
use crate::harness::*;

#[test]
fn every_record_arrives_with_key_and_headers_in_partition_order() {
    let broker = Broker::kafka().with_pipeline_topics(3);
    const N: u64 = 100_000;
    broker.produce("in", keyed_events(N, 100));

    let scratch = Scratch::with_plugins(&["json-validate"]);
    scratch.config(kafka_pipeline(&broker, "pipeline-test", ""));
    let running = scratch.start();

    // Generous: on a loaded 2-core machine (a full CI run) 100 000 records once took
    // longer than two minutes to arrive; the wait ends as soon as they have.
    let out = broker.consume("out", (N - N / 100) as usize, Duration::from_secs(300));
    let dead = broker.consume("dlq", (N / 100) as usize, Duration::from_secs(60));

    let (counts, by_key) = ids_by_key(&out);
    let missing: Vec<u64> = (0..N).filter(|id| id % 100 != 99 && !counts.contains_key(id)).take(10).collect();
    assert!(
        missing.is_empty(),
        "{} of {} records missing, e.g. {missing:?}\n{}",
        N - N / 100 - counts.len() as u64,
        N,
        running.log()
    );
    let duplicated = counts.values().filter(|&&c| c > 1).count();
    assert_eq!(duplicated, 0, "a clean run duplicates nothing");
    for (key, ids) in &by_key {
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "records of key {key} are out of order: {ids:?}");
    }
    for record in &out {
        let id: u64 = record.header("seq").unwrap().parse().unwrap();
        assert_eq!(record.key.as_deref(), Some(format!("user-{}", id % 37).as_str()));
        assert_eq!(record.header("trace"), Some(format!("t{id}").as_str()));
        assert_eq!(record.value, format!("{{\"id\":{id},\"user\":\"u{}\"}}", id % 37));
    }
    let partitions: std::collections::HashSet<i32> = out.iter().map(|r| r.partition).collect();
    assert_eq!(partitions.len(), 3, "keys spread over the output partitions");

    assert_eq!(dead.len(), (N / 100) as usize);
    for record in &dead {
        let id: u64 = record.header("seq").unwrap().parse().unwrap();
        assert_eq!(id % 100, 99, "only the broken records are dead letters");
        assert_eq!(record.header("sluice.plugin"), Some("json-validate"));
        assert!(record.header("sluice.error").is_some_and(|e| !e.is_empty()), "{record:?}");
        assert_eq!(record.header("sluice.stream"), Some(broker.topic("in").as_str()));
        assert!(record.header("sluice.offset").is_some());
    }
}

#[test]
fn a_topic_pattern_reads_every_matching_topic_and_no_other() {
    let broker = Broker::kafka().with_pipeline_topics(2);
    for topic in ["in-a", "in-b", "other"] {
        broker.create_topic(topic, 2);
    }
    const N: u64 = 2_000;
    broker.produce("in-a", keyed_events(N, 0).take((N / 2) as usize));
    broker.produce("in-b", keyed_events(N, 0).skip((N / 2) as usize));
    broker.produce("other", keyed_events(2 * N, 0).skip(N as usize));

    let scratch = Scratch::with_plugins(&["json-validate"]);
    let config = kafka_pipeline(&broker, "pattern-test", "");
    // The prefix's dots match any character: loose, but it still names no other topic.
    let pattern = format!("^{}-.*", broker.topic("in"));
    scratch.config(
        config.replace(&format!(r#"topics = ["{}"]"#, broker.topic("in")), &format!(r#"topics = ["{pattern}"]"#)),
    );
    let running = scratch.start();

    let out = broker.consume("out", N as usize, Duration::from_secs(60));
    let (counts, _) = ids_by_key(&out);
    assert_none_missing(&counts, N, &running.log());
    assert!(counts.keys().all(|id| *id < N), "records of `other` were read:\n{}", running.log());
}

#[test]
fn a_sink_without_a_topic_writes_each_record_to_the_topic_named_like_its_route() {
    let broker = Broker::kafka();
    for topic in ["in", "orders-eu", "orders-us"] {
        broker.create_topic(topic, 2);
    }
    const N: u64 = 300;
    let region = |id: u64| if id.is_multiple_of(3) { "us" } else { "eu" };
    let records = (0..N).map(|id| {
        let value = format!("{{\"id\":{id},\"region\":\"{}\"}}", region(id));
        TestRecord::new(&format!("customer-{}", id % 7), value, &[("seq", id.to_string())])
    });
    broker.produce("in", records);

    let scratch = Scratch::with_plugins(&["router"]);
    let brokers = broker.address();
    let [group, input] = [broker.group("route-topic-test"), broker.topic("in")];
    let [eu, us] = [broker.topic("orders-eu"), broker.topic("orders-us")];
    scratch.config(format!(
        r#"
[sources.input]
type = "kafka"
brokers = "{brokers}"
group = "{group}"
topics = ["{input}"]

[sinks.by_region]
type = "kafka"
brokers = "{brokers}"

[sinks.dlq]
type = "file"
path = "out/dlq.jsonl"

[pipelines.main]
source = "input"
plugins = [{{ name = "router", config = {{ field = "region", "map.eu" = "{eu}", "map.us" = "{us}" }} }}]
routes = {{ "{eu}" = ["by_region"], "{us}" = ["by_region"] }}
dead_letter = "dlq"
batch_wait = "10ms"
"#
    ));
    let running = scratch.start();
    let us_count = (0..N).filter(|id| region(*id) == "us").count();
    for (topic, wanted, count) in [("orders-eu", "eu", N as usize - us_count), ("orders-us", "us", us_count)] {
        let out = broker.consume(topic, count, Duration::from_secs(60));
        assert_eq!(out.len(), count, "{topic}:\n{}", running.log());
        for record in &out {
            let id: u64 = record.header("seq").unwrap().parse().unwrap();
            assert_eq!(region(id), wanted, "{topic} holds only its region's records");
            assert_eq!(record.key.as_deref(), Some(format!("customer-{}", id % 7).as_str()));
        }
        let (_, by_key) = ids_by_key(&out);
        assert_first_arrivals_in_order(by_key);
    }
}

/// Records from Kafka that the plugin boundary cannot carry (a header name longer than
/// 65 535 bytes, more than 65 535 headers) are dead-lettered as malformed at read, with
/// the reason and their position, their key and value kept and the headers that could not
/// be carried left out; they never panic the lane, and the records around them flow on.
#[test]
fn records_too_wide_for_the_plugin_boundary_are_dead_lettered_as_malformed_at_read() {
    let broker = Broker::kafka().with_pipeline_topics(1);
    let wide_name = "h".repeat(70_000);
    let many: Vec<(String, String)> = (0..70_000).map(|i| (format!("h{i}"), String::new())).collect();
    let records = (0..5u64).map(|id| {
        let mut record = TestRecord::new("k", format!("{{\"id\":{id}}}"), &[("seq", id.to_string())]);
        match id {
            1 => record.headers.push((wide_name.clone(), "v".into())),
            3 => record.headers.extend(many.iter().cloned()),
            _ => {}
        }
        record
    });
    broker.produce("in", records);

    let scratch = Scratch::with_plugins(&["json-validate"]);
    let config = kafka_pipeline(&broker, "too-wide-test", "");
    let dlq_topic = broker.sink_table("dlq");
    scratch.config(config.replace(&dlq_topic, "type = \"file\"\npath = \"out/dlq.jsonl\""));
    let running = scratch.start();
    let out = broker.consume("out", 3, Duration::from_secs(60));
    let seqs: Vec<&str> = out.iter().map(|r| r.header("seq").unwrap()).collect();
    assert_eq!(seqs, ["0", "2", "4"], "the records around the malformed ones, in order:\n{}", running.log());
    eventually(Duration::from_secs(30), "both malformed records in the dead-letter file", || {
        scratch.read_envelopes("out/dlq.jsonl").len() == 2
    });
    let dead = scratch.read_envelopes("out/dlq.jsonl");
    let reasons: Vec<(&str, &str)> =
        dead.iter().map(|d| (header(d, "sluice.offset").unwrap(), header(d, "sluice.error").unwrap())).collect();
    assert_eq!(
        reasons,
        [
            ("1", "source could not decode the record: a header name is 70000 bytes; at most 65535 are allowed"),
            ("3", "source could not decode the record: the record has 70001 headers; at most 65535 are allowed"),
        ]
    );
    for d in &dead {
        assert_eq!(d["key"], "k", "the key is kept: {d}");
        assert!(header(d, "seq").is_none(), "the record's own headers are left out: {d}");
    }
    assert!(!running.log().contains("panicked"), "{}", running.log());
}
