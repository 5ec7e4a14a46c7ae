//! The plugin boundary: host records in, plugin outputs back as host records, through an
//! identity plugin written in Rust. Everything the host does per batch is inside the
//! measurement: encoding, the call, the copy in and out of linear memory, decoding.
//!
//! Two designs of the same contract, side by side:
//! - `encoded`: `wit/plugin.wit`, a batch as one `list<u8>` (what Sluice ships);
//! - `typed`: a `list<record>` of typed WIT values, lowered field by field
//!   (`tests/plugins/typed-passthrough`).
//!
//! Run with `scripts/bench`; numbers are in BENCHMARKS.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice::plugin::{PluginEngine, PluginInstance, Sandbox};
use sluice::record::{Record, RecordMeta};

/// The allocator the `sluice` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn plugin_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run scripts/build-plugins --with-test-plugins", path.display());
    path
}

/// `n` records with 100-byte values, 16-byte keys and `headers` headers.
fn records(n: usize, headers: usize) -> (Vec<Record>, Vec<RecordMeta>) {
    let stream: Arc<str> = Arc::from("orders");
    let records = (0..n)
        .map(|i| {
            let value =
                format!("{{\"id\":{i:010},\"amount\":1234,\"currency\":\"EUR\",\"note\":\"{}\"}}", "x".repeat(42));
            let mut record = Record::new(Some(format!("customer-{i:07}").as_bytes()), Some(value.as_bytes()));
            for h in 0..headers {
                record.push_header(["trace-id", "content-type"][h % 2], Bytes::from_static(b"0123456789abcdef"));
            }
            record.timestamp = Some(1_700_000_000_000 + i as i64);
            record
        })
        .collect::<Vec<_>>();
    assert_eq!(records[0].value().unwrap().len(), 100);
    let meta = (0..n).map(|i| RecordMeta { stream: stream.clone(), partition: 0, offset: i as u64 }).collect();
    (records, meta)
}

fn encoded(c: &mut Criterion) {
    // Plugin calls are driven by the host's Tokio runtime, as in `sluice run`.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let engine = PluginEngine::new().unwrap();
    let bytes = std::fs::read(plugin_file("passthrough")).unwrap();
    let compiled = Arc::new(engine.compile("passthrough", &bytes).unwrap());
    let mut instance = PluginInstance::start(compiled, "bench", &[], &Sandbox::default()).unwrap();
    let mut group = c.benchmark_group("boundary/encoded");
    for (batch, headers) in [(1000, 2), (1000, 0), (100, 2), (10_000, 2)] {
        let (records, meta) = records(batch, headers);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new(format!("{headers}-headers"), batch), &(), |b, ()| {
            b.iter(|| {
                let result = instance.process("bench", records.iter().zip(&meta), Duration::from_secs(5)).unwrap();
                assert_eq!(result.outputs.len(), batch);
                result
            })
        });
    }
    group.finish();
}

mod typed {
    use wasmtime::component::{Component, Linker, ResourceTable};
    use wasmtime::{Config, Engine, Store};
    use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

    wasmtime::component::bindgen!({ path: "../tests/plugins/typed-passthrough/wit", world: "typed" });

    pub struct State {
        wasi: WasiCtx,
        table: ResourceTable,
    }

    impl WasiView for State {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
        }
    }

    pub fn instantiate(bytes: &[u8]) -> (Store<State>, Typed) {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).unwrap();
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        let component = Component::from_binary(&engine, bytes).unwrap();
        let mut store = Store::new(&engine, State { wasi: WasiCtx::builder().build(), table: ResourceTable::new() });
        store.set_epoch_deadline(u64::MAX / 2);
        let typed = Typed::instantiate(&mut store, &component, &linker).unwrap();
        (store, typed)
    }
}

fn typed(c: &mut Criterion) {
    use typed::{Header as TypedHeader, Input, Outcome};

    let bytes = std::fs::read(plugin_file("typed-passthrough")).unwrap();
    let (mut store, plugin) = typed::instantiate(&bytes);
    let mut group = c.benchmark_group("boundary/typed");
    for (batch, headers) in [(1000, 2), (1000, 0)] {
        let (records, meta) = records(batch, headers);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new(format!("{headers}-headers"), batch), &(), |b, ()| {
            b.iter(|| {
                // The same work as the encoded path: host records in, host records out.
                let inputs: Vec<Input> = records
                    .iter()
                    .zip(&meta)
                    .map(|(r, m)| Input {
                        key: r.key().map(<[u8]>::to_vec),
                        value: r.value().map(<[u8]>::to_vec),
                        headers: r
                            .headers()
                            .map(|(name, value)| TypedHeader { name: name.to_owned(), value: value.to_vec() })
                            .collect(),
                        timestamp: r.timestamp,
                        stream: m.stream.to_string(),
                        partition: m.partition,
                        offset: m.offset,
                    })
                    .collect();
                let outcomes = plugin.call_process(&mut store, &inputs).unwrap();
                let outputs: Vec<Record> = outcomes
                    .into_iter()
                    .flat_map(|o| match o {
                        Outcome::Outputs(outputs) => outputs,
                        Outcome::Rejected(_) => unreachable!(),
                    })
                    .map(|o| {
                        let mut record = Record::new(o.key.as_deref(), o.value.as_deref());
                        for h in o.headers {
                            record.push_header(h.name, h.value);
                        }
                        record.timestamp = o.timestamp;
                        record
                    })
                    .collect();
                assert_eq!(outputs.len(), batch);
                outputs
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = encoded, typed
}
criterion_main!(benches);
