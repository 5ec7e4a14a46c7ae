//! Plugins in every SDK language, side by side in one run (built by
//! `scripts/bench-languages` into `target/bench-plugins/`):
//! - `load`: component size, compile time at load and load time from the compile cache
//!   (medians of a few, printed: a Python compile takes seconds, too long for criterion);
//! - `languages/instantiate`: a fresh instance with its `init`;
//! - `languages/process`: records per second through the host's instance, every host
//!   step included, for an identity plugin and a JSON transform (parse, drop where
//!   `level` is `debug`, add a field), at batch sizes 1, 100 and 1000.
//!
//! Numbers are in BENCHMARKS.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice::plugin::cache::CompileCache;
use sluice::plugin::{CompiledPlugin, PluginEngine, PluginInstance, Sandbox};
use sluice::record::{Record, RecordMeta};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The plugins measured, as `target/bench-plugins/NAME.wasm`.
const PLUGINS: &[&str] = &[
    "identity-rust",
    "identity-python",
    "raw-python",
    "identity-js",
    "identity-qjs",
    "identity-c",
    "identity-go",
    "json-rust",
    "json-python",
    "json-js",
    "json-qjs",
    "json-c",
    "json-go",
];

fn plugin_bytes(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-plugins").join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/bench-languages", path.display()))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn compiled(engine: &PluginEngine) -> Vec<(&'static str, Arc<CompiledPlugin>)> {
    PLUGINS.iter().map(|&name| (name, Arc::new(engine.compile(name, &plugin_bytes(name)).unwrap()))).collect()
}

fn load(_c: &mut Criterion) {
    let engine = PluginEngine::new().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = CompileCache::new(cache_dir.path().to_owned());
    eprintln!("{:<16} {:>12} {:>14} {:>14}", "plugin", "bytes", "compile", "from cache");
    for &name in PLUGINS {
        let bytes = plugin_bytes(name);
        let timed = |f: &dyn Fn()| {
            let start = Instant::now();
            f();
            start.elapsed()
        };
        let compile = median((0..3).map(|_| timed(&|| drop(engine.compile(name, &bytes).unwrap()))).collect());
        engine.compile_cached(name, &bytes, &cache).unwrap(); // fills the cache
        let cached =
            median((0..5).map(|_| timed(&|| drop(engine.compile_cached(name, &bytes, &cache).unwrap()))).collect());
        eprintln!("{name:<16} {:>12} {:>14.2?} {:>14.2?}", bytes.len(), compile, cached);
    }
}

fn instantiate(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let engine = PluginEngine::new().unwrap();
    let mut group = c.benchmark_group("languages/instantiate");
    for (name, plugin) in compiled(&engine) {
        group.bench_function(name, |b| {
            b.iter(|| PluginInstance::start(plugin.clone(), "bench", &[], &Sandbox::default()).unwrap())
        });
    }
    group.finish();
}

/// `n` log records of about 100 bytes, a quarter of them at level `debug`, with a key and
/// one header.
fn records(n: usize) -> (Vec<Record>, Vec<RecordMeta>) {
    let stream: Arc<str> = Arc::from("logs");
    let levels = ["info", "warn", "error", "debug"];
    let records = (0..n)
        .map(|i| {
            let level = levels[i % levels.len()];
            let value = format!(
                "{{\"id\":{:>8},\"level\":\"{level}\",\"msg\":\"request served in 12 ms\",\"path\":\"/api/v1/orders\"}}",
                i + 1
            );
            let mut record = Record::new(Some(format!("host-{:04}", i % 1000).as_bytes()), Some(value.as_bytes()));
            record.push_header("trace-id", bytes::Bytes::from_static(b"0123456789abcdef"));
            record.timestamp = Some(1_700_000_000_000 + i as i64);
            record
        })
        .collect();
    let meta = (0..n).map(|i| RecordMeta { stream: stream.clone(), partition: 0, offset: i as u64 }).collect();
    (records, meta)
}

fn process(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let engine = PluginEngine::new().unwrap();
    let mut group = c.benchmark_group("languages/process");
    for (name, plugin) in compiled(&engine) {
        let start = || PluginInstance::start(plugin.clone(), "bench", &[], &Sandbox::default()).unwrap();
        let mut instance = start();
        for batch in [1, 100, 1000] {
            let (records, meta) = records(batch);
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new(name, batch), &(), |b, ()| {
                b.iter(|| {
                    let result = instance.process("bench", records.iter().zip(&meta), Duration::from_secs(5)).unwrap();
                    assert!(result.rejected.is_empty(), "{name}: {:?}", result.rejected.first());
                    // As the host's chain does: componentize-py 0.25.1 never frees a
                    // result buffer, so Python instances are replaced every few hundred
                    // batches, and that is part of what a record costs.
                    if instance.due_for_recycling().is_some() {
                        instance = start();
                    }
                    result
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, load, instantiate, process);
criterion_main!(benches);
