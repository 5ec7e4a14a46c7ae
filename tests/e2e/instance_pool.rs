//! The instance pool: sized for the most instances a chain can have alive at once, and
//! saying so in plain words if it is ever full.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

use sluice::config::FailurePolicy;
use sluice::plugin::chain::{Chain, SlotSpec};
use sluice::plugin::pool::PoolSize;
use sluice::plugin::versions::SlotReport;
use sluice::plugin::{CompiledPlugin, PluginEngine, PluginInstance, Sandbox};
use sluice::record::{Record, RecordMeta};

use crate::harness::built_plugins;

fn compile(engine: &PluginEngine, name: &str) -> Arc<CompiledPlugin> {
    let bytes = std::fs::read(built_plugins().join(format!("{name}.wasm"))).unwrap();
    Arc::new(engine.compile(name, &bytes).unwrap())
}

#[test]
fn an_instance_beyond_the_pool_fails_to_start_and_says_the_pool_is_full() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let engine = PluginEngine::with_pool(&PoolSize { instances: 2, ..PoolSize::tools() }).unwrap();
    let plugin = compile(&engine, "passthrough");
    let start = || PluginInstance::start(plugin.clone(), "p", &[], &Sandbox::default());
    let first = start().unwrap();
    let _second = start().unwrap();
    let third = start().err().expect("a third instance does not fit a pool of two");
    assert!(third.contains("the host's instance pool is full"), "{third}");
    drop(first);
    start().expect("a dropped instance gives its slot back");
}

/// Instances started on other threads (new versions start off the pipeline's thread) count
/// only in a process-wide recorder; this is the test binary's only one.
fn global_metrics() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("no other global recorder in the tests");
        snapshotter
    })
}

fn start_failures(pipeline: &str) -> u64 {
    let snapshot = global_metrics().snapshot().into_vec();
    let failures = snapshot.into_iter().filter(|(key, ..)| {
        key.key().name() == "sluice_plugin_start_failures_total"
            && key.key().labels().any(|l| l.key() == "pipeline" && l.value() == pipeline)
    });
    failures.map(|(.., value)| if let DebugValue::Counter(n) = value { n } else { 0 }).sum()
}

/// A batch of `n` records, `r0`, `r1`, …
fn batch(n: usize) -> (Vec<Record>, Vec<RecordMeta>) {
    let stream: Arc<str> = Arc::from("s");
    let records = (0..n).map(|i| Record::from_value(format!("r{i}"))).collect();
    let meta = (0..n).map(|i| RecordMeta { stream: stream.clone(), partition: 0, offset: i as u64 }).collect();
    (records, meta)
}

/// A one-plugin chain on a pool of exactly [`INSTANCES_PER_SLOT`](sluice::plugin::pool::INSTANCES_PER_SLOT): a broken version is
/// published before every batch, so one can be waiting and another starting while the
/// chain takes one over, finds every record fails (isolating them on fresh instances)
/// and rolls back to the good one. No instance may fail for want of a slot.
#[test]
fn one_slots_worth_of_pool_carries_swaps_isolation_and_rollbacks() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    global_metrics();
    let engine = PluginEngine::with_pool(&PoolSize::for_slots(1, [])).unwrap();
    let (good, broken) = (compile(&engine, "passthrough"), compile(&engine, "misbehave"));
    let (publish, versions) = tokio::sync::watch::channel(good.clone());
    let spec = SlotSpec {
        versions,
        config: vec![("panic_always".into(), "yes".into())],
        sandbox: Sandbox::default(),
        on_failure: FailurePolicy::DeadLetter,
        rollback_after: 1,
        report: SlotReport::unread(),
    };
    let mut chain = Chain::start("pool-test", vec![spec]).unwrap();
    let mut rollbacks = 0;
    let started = Instant::now();
    while rollbacks < 5 {
        assert!(started.elapsed() < Duration::from_secs(120), "only {rollbacks} rollbacks in 120 s");
        publish.send(broken.clone()).unwrap();
        let (records, meta) = batch(8);
        let result = chain.run("s", &meta, records, &[]).unwrap();
        for dead in &result.dead {
            assert!(!dead.reason.contains("pool"), "an instance found no slot: {}", dead.reason);
        }
        assert_eq!(result.dead.len(), 8 * result.rollbacks, "a batch fails whole on the broken version only");
        rollbacks += result.rollbacks;
    }
    assert_eq!(start_failures("pool-test"), 0, "no instance failed to start, on any thread");
    drop(good);
}

/// Where the address space is limited (an `ulimit -v`), the pool cannot be reserved: the
/// host says so and maps each instance on its own, and the pipeline runs as before.
#[test]
fn without_address_space_for_the_pool_instances_are_mapped_one_by_one() {
    use std::process::Stdio;

    use crate::harness::{Scratch, events, one_pipeline, read_envelopes, sluice, wait_with_deadline, with_rlimit};

    let scratch = Scratch::with_plugins(&["passthrough"]);
    scratch.write("input.jsonl", events(1000, 0));
    scratch.config(one_pipeline(
        "type = \"file\"\npath = \"input.jsonl\"",
        "[{ name = \"passthrough\" }]",
        "type = \"file\"\npath = \"out/out.jsonl\"",
        "default_route = \"out\"",
    ));
    // The pool of one plugin slot reserves some 260 GiB; one instance mapped alone, 4 GiB.
    let mut command = sluice();
    command.args(["run", "-c"]).arg(scratch.path("sluice.toml")).stdout(Stdio::null()).stderr(Stdio::piped());
    with_rlimit(&mut command, libc::RLIMIT_AS, 48 << 30);
    let output = wait_with_deadline(command.spawn().unwrap(), Duration::from_secs(120));
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("cannot reserve the plugin instance pool"), "{log}");
    assert_eq!(read_envelopes(&scratch.path("out/out.jsonl")).len(), 1000, "{log}");
}
