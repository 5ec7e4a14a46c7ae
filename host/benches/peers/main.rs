//! Sluice side by side with what teams use instead, on one Apache Kafka broker in one run:
//! the same workload ([`workload`]: keyed JSON events of ~200 B with two headers in 8
//! partitions) and the same transform for every contender (parse the JSON, drop `debug`,
//! add a field, write to an output topic), each a program under `bench/peers/`:
//!
//! 1. the ceiling: the transform natively between a plain rdkafka consumer and producer;
//! 2. Sluice with the transform as a plugin in Rust, Python and JavaScript;
//! 3. Kafka Streams (Java); 4. Quix Streams (Python).
//!
//! Then [`files`]: Sluice against Redpanda Connect's engine, which has no Kafka connector.
//!
//! Each round gives every contender, in an order rotated per round, fresh topics with
//! `BENCH_RECORDS` records (default 1 000 000) waiting; it measures [`measure::throughput`]
//! on that backlog, then [`measure::latency`] at a fixed rate, then the contender's peak
//! memory, and stops it. `BENCH_ROUNDS` rounds (default 3); medians are reported, with each
//! contender's ratio to the ceiling. `BENCH_PEERS` (names, comma-separated, as printed)
//! picks contenders. Run with `scripts/bench-peers`, which builds the peers and the broker.

mod broker;
mod files;
mod measure;
mod peer;
mod workload;

use std::path::Path;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use broker::Broker;
use peer::Peer;

const PARTITIONS: i32 = 8;
const LATENCY_RATE: u64 = 5_000;
const LATENCY_SECONDS: u64 = 10;

const PEERS: &[Peer] = &[
    Peer { name: "rdkafka native (ceiling)", folder: "rdkafka", env: &[] },
    Peer { name: "Sluice, Rust plugin", folder: "sluice", env: &[("BENCH_LANGUAGE", "rust")] },
    Peer { name: "Sluice, Python plugin", folder: "sluice", env: &[("BENCH_LANGUAGE", "python")] },
    Peer { name: "Sluice, JS plugin", folder: "sluice", env: &[("BENCH_LANGUAGE", "js")] },
    Peer { name: "Kafka Streams", folder: "kafka-streams", env: &[] },
    Peer { name: "Quix Streams", folder: "quix-streams", env: &[] },
];

struct Measured {
    rate: f64,
    cpu_per_million: f64,
    p50_ms: f64,
    p99_ms: f64,
    rss_mib: f64,
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let setting = |name: &str, default: u64| std::env::var(name).map_or(default, |v| v.parse().expect(name));
    let (records, rounds) = (setting("BENCH_RECORDS", 1_000_000), setting("BENCH_ROUNDS", 3) as usize);
    let chosen: Vec<&Peer> = match std::env::var("BENCH_PEERS") {
        Ok(names) => {
            names.split(',').map(|n| PEERS.iter().find(|p| p.slug() == n.trim()).expect("a peer's slug")).collect()
        }
        Err(_) => PEERS.iter().collect(),
    };
    let broker = Broker::start(&root);
    let mut results: Vec<Vec<Measured>> = chosen.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for i in (0..chosen.len()).map(|i| (i + round) % chosen.len()) {
            let peer = chosen[i];
            eprintln!("round {}: {}", round + 1, peer.name);
            let measured = measure(&broker, &root, peer, round, records);
            eprintln!(
                "  {:.0} records/s, {:.1} CPU s per million, p50 {:.0} ms, p99 {:.0} ms, peak RSS {:.0} MiB",
                measured.rate, measured.cpu_per_million, measured.p50_ms, measured.p99_ms, measured.rss_mib
            );
            results[i].push(measured);
        }
    }
    report(&chosen, &results, records);
    if std::env::var("BENCH_PEERS").is_err() {
        contest_on_files(&root, records, rounds);
    }
}

/// [`files`]: Sluice and benthos, alternating, on one input file.
fn contest_on_files(root: &Path, records: u64, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    files::write_input(&input, records);
    let mut results: Vec<Vec<files::Measured>> = files::Contender::ALL.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (contender, results) in files::Contender::ALL.iter().zip(&mut results) {
            let m = files::measure(root, *contender, &input, records);
            eprintln!(
                "round {}: {}: {:.0} records/s, {:.1} CPU s per million, peak RSS {:.0} MiB",
                round + 1,
                contender.name(),
                m.rate,
                m.cpu_per_million,
                m.rss_mib
            );
            results.push(m);
        }
    }
    println!("\nfile → file, {records} records, {rounds} rounds; medians\n");
    println!("| contender | records/s | CPU s / M records | peak RSS |\n| --- | ---: | ---: | ---: |");
    for (contender, rounds) in files::Contender::ALL.iter().zip(&results) {
        let median = |f: fn(&files::Measured) -> f64| {
            let mut values: Vec<f64> = rounds.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        println!(
            "| {} | {:.0} | {:.1} | {:.0} MiB |",
            contender.name(),
            median(|m| m.rate),
            median(|m| m.cpu_per_million),
            median(|m| m.rss_mib)
        );
    }
}

fn measure(broker: &Broker, root: &Path, peer: &Peer, round: usize, records: u64) -> Measured {
    let name = format!("r{round}-{}", peer.slug());
    let (input, output) = (format!("{name}-in"), format!("{name}-out"));
    broker.create_topics(&[&input, &output]);
    workload::produce(broker, &input, 0, records, None);
    let mut running = peer.start(root, &broker.address, &input, &output, &name);
    let throughput = measure::throughput(broker, &mut running, &output, records);
    check_output(broker, &output);
    let (p50_ms, p99_ms) = measure::latency(broker, &input, &output, records);
    let rss_mib = running.peak_rss_mib();
    running.stop();
    Measured { rate: throughput.rate, cpu_per_million: throughput.cpu_per_million, p50_ms, p99_ms, rss_mib }
}

/// Panics unless the first output records are transformed, keyed and carry both headers:
/// a contender that skipped the work would otherwise look fast.
fn check_output(broker: &Broker, output: &str) {
    let reader: BaseConsumer =
        broker.client().set("group.id", "bench-check").set("enable.auto.commit", "false").create().unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment.add_partition_offset(output, p, Offset::Beginning).unwrap();
    }
    reader.assign(&assignment).unwrap();
    let mut checked = 0;
    while checked < 100 {
        let Some(message) = reader.poll(Duration::from_secs(10)) else { panic!("no output to check in {output}") };
        let message = message.unwrap();
        let value: serde_json::Value = serde_json::from_slice(message.payload().unwrap()).expect("JSON output");
        assert_eq!(value["pipeline"], "bench", "not transformed: {value}");
        assert_ne!(value["level"], "debug", "not filtered: {value}");
        let key = format!("user-{:06}", value["id"].as_u64().unwrap() % 10_000);
        assert_eq!(message.key(), Some(key.as_bytes()), "key lost: {value}");
        assert_eq!(message.headers().map_or(0, |h| h.count()), 2, "headers lost: {value}");
        checked += 1;
    }
}

fn report(peers: &[&Peer], results: &[Vec<Measured>], records: u64) {
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let medians: Vec<[f64; 5]> = results
        .iter()
        .map(|rounds| {
            let of = |f: fn(&Measured) -> f64| median(&mut rounds.iter().map(f).collect());
            [of(|m| m.rate), of(|m| m.cpu_per_million), of(|m| m.p50_ms), of(|m| m.p99_ms), of(|m| m.rss_mib)]
        })
        .collect();
    let ceiling = peers.iter().position(|p| p.folder == "rdkafka").map(|i| medians[i][0]);
    println!(
        "\n{records} records, {} rounds; medians (throughput on a backlog; latency at {LATENCY_RATE} records/s)\n",
        results[0].len()
    );
    println!("| contender | records/s | vs ceiling | CPU s / M records | p50 latency | p99 latency | peak RSS |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (peer, [rate, cpu, p50, p99, rss]) in peers.iter().zip(&medians) {
        let ratio = ceiling.map_or("".to_owned(), |c| format!("{:.2}×", rate / c));
        println!("| {} | {rate:.0} | {ratio} | {cpu:.1} | {p50:.0} ms | {p99:.0} ms | {rss:.0} MiB |", peer.name);
    }
    println!(
        "\nevery round:\n\n| contender | round | records/s | CPU s / M | p50 | p99 | peak RSS |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (peer, rounds) in peers.iter().zip(results) {
        for (round, m) in rounds.iter().enumerate() {
            println!(
                "| {} | {} | {:.0} | {:.1} | {:.0} ms | {:.0} ms | {:.0} MiB |",
                peer.name,
                round + 1,
                m.rate,
                m.cpu_per_million,
                m.p50_ms,
                m.p99_ms,
                m.rss_mib
            );
        }
    }
}
