//! What a plugin instance's life costs, outside the per-record path, on the host's pooled
//! engine and on the on-demand one it falls back to:
//! - `instantiate`: a fresh instance with `init` (what a hot swap, a restart after a
//!   failure and every isolation step pay), per plugin;
//! - `isolate`: a batch of 500 or 5000 records with one poison record among them, next to
//!   the same batch without it; the extra plugin calls are printed once per size.
//!
//! Run with `scripts/bench`; numbers are in BENCHMARKS.md.

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sluice::config::FailurePolicy;
use sluice::plugin::chain::{Chain, SlotSpec};
use sluice::plugin::versions::SlotReport;
use sluice::plugin::{PluginEngine, PluginInstance, Sandbox};
use sluice::record::{Record, RecordMeta};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn plugin_bytes(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins").join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins --with-test-plugins", path.display()))
}

/// The host's engine (instances from the pool) and the one it falls back to (instances
/// mapped on demand), measured side by side in every group.
fn engines() -> [(&'static str, Arc<PluginEngine>); 2] {
    [("pooled", PluginEngine::new().unwrap()), ("on-demand", PluginEngine::on_demand().unwrap())]
}

fn instantiate(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let mut group = c.benchmark_group("lifecycle/instantiate");
    for (allocation, engine) in engines() {
        for name in ["passthrough", "json-validate", "misbehave"] {
            let compiled = Arc::new(engine.compile(name, &plugin_bytes(name)).unwrap());
            group.bench_function(format!("{name}/{allocation}"), |b| {
                b.iter(|| PluginInstance::start(compiled.clone(), "bench", &[], &Sandbox::default()).unwrap())
            });
        }
    }
    group.finish();
}

/// `n` records `r0`, `r1`, …, with `panic` at the middle if `poison`.
fn batch(n: usize, poison: bool) -> (Vec<Record>, Vec<RecordMeta>) {
    let stream: Arc<str> = Arc::from("bench");
    let records = (0..n)
        .map(|i| Record::from_value(if poison && i == n / 2 { "panic".to_owned() } else { format!("r{i}") }))
        .collect();
    let meta = (0..n).map(|i| RecordMeta { stream: stream.clone(), partition: 0, offset: i as u64 }).collect();
    (records, meta)
}

fn isolate(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let mut group = c.benchmark_group("lifecycle/isolate");
    group.sample_size(20);
    for (allocation, engine) in engines() {
        let compiled = Arc::new(engine.compile("misbehave", &plugin_bytes("misbehave")).unwrap());
        let (_versions, receiver) = tokio::sync::watch::channel(compiled);
        let spec = SlotSpec {
            versions: receiver,
            config: Vec::new(),
            sandbox: Sandbox::default(),
            on_failure: FailurePolicy::DeadLetter,
            rollback_after: 0,
            report: SlotReport::unread(),
        };
        let mut chain = Chain::start("bench", vec![spec]).unwrap();
        for n in [500, 5000] {
            // The extra calls, once, from the host's own counter.
            let (records, meta) = batch(n, true);
            let recorder = DebuggingRecorder::new();
            let snapshotter = recorder.snapshotter();
            metrics::with_local_recorder(&recorder, || chain.run("bench", &meta, records, &[]).unwrap());
            let calls = snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
                (key.key().name() == "sluice_plugin_isolation_calls_total").then_some(value)
            });
            let Some(DebugValue::Counter(calls)) = calls else { panic!("no isolation calls counted") };
            eprintln!("lifecycle/isolate/{n}/{allocation}: one poison record costs {calls} extra plugin calls");

            for poison in [false, true] {
                let (records, meta) = batch(n, poison);
                let id = BenchmarkId::new(format!("{}/{allocation}", if poison { "one-poison" } else { "clean" }), n);
                group.bench_with_input(id, &(), |b, ()| {
                    b.iter(|| {
                        let result = chain.run("bench", &meta, records.clone(), &[]).unwrap();
                        assert_eq!(result.dead.len(), usize::from(poison));
                        result
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, instantiate, isolate);
criterion_main!(benches);
