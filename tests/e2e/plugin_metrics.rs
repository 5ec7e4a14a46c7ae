//! A plugin's counters and gauges reach the host's metrics registry, labelled with the
//! plugin and the pipeline.

use std::sync::Arc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sluice::config::FailurePolicy;
use sluice::plugin::chain::{Chain, SlotSpec};
use sluice::plugin::versions::SlotReport;
use sluice::plugin::{PluginEngine, PluginInstance, Sandbox};
use sluice::record::{Record, RecordMeta};

use crate::harness::built_plugins;

#[test]
fn plugin_counters_are_recorded_with_plugin_and_pipeline_labels() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let engine = PluginEngine::new().unwrap();
    let bytes = std::fs::read(built_plugins().join("misbehave.wasm")).unwrap();
    let compiled = Arc::new(engine.compile("misbehave", &bytes).unwrap());
    let config = [("log".to_owned(), "yes".to_owned())];
    let mut instance = PluginInstance::start(compiled, "orders", &config, &Sandbox::default()).unwrap();
    let records: Vec<Record> = ["a", "b", "reject", "c"].into_iter().map(Record::from_value).collect();
    let stream: Arc<str> = Arc::from("s");
    let meta: Vec<RecordMeta> =
        (0..4).map(|offset| RecordMeta { stream: stream.clone(), partition: 0, offset }).collect();

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let result = metrics::with_local_recorder(&recorder, || {
        instance.process("src", records.iter().zip(&meta), Duration::from_secs(5))
    })
    .unwrap();
    assert_eq!(result.outputs.len(), 3);
    assert_eq!(result.rejected, [(2, "asked to reject".to_owned())]);

    let counters: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "records_seen")
        .map(|(key, _, _, value)| {
            let labels: Vec<_> = key.key().labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            (labels, value)
        })
        .collect();
    assert_eq!(counters.len(), 1, "{counters:?}");
    let (labels, value) = &counters[0];
    assert_eq!(*value, DebugValue::Counter(3));
    assert!(labels.contains(&("plugin".into(), "misbehave".into())), "{labels:?}");
    assert!(labels.contains(&("pipeline".into(), "orders".into())), "{labels:?}");
}

/// `on_failure = "skip"` drops what the plugin failed on, and the host's own counter says
/// how many, labelled with the plugin and the pipeline.
#[test]
fn skipped_records_are_counted_with_plugin_and_pipeline_labels() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let engine = PluginEngine::new().unwrap();
    let bytes = std::fs::read(built_plugins().join("misbehave.wasm")).unwrap();
    let compiled = Arc::new(engine.compile("misbehave", &bytes).unwrap());
    let (_versions, receiver) = tokio::sync::watch::channel(compiled);
    let spec = SlotSpec {
        versions: receiver,
        config: Vec::new(),
        sandbox: Sandbox::default(),
        on_failure: FailurePolicy::Skip,
        rollback_after: 0,
        report: SlotReport::unread(),
    };
    let mut chain = Chain::start("orders", vec![spec]).unwrap();
    let records: Vec<Record> = ["a", "panic", "b", "panic", "c"].into_iter().map(Record::from_value).collect();
    let stream: Arc<str> = Arc::from("s");
    let meta: Vec<RecordMeta> =
        (0..5).map(|offset| RecordMeta { stream: stream.clone(), partition: 0, offset }).collect();

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let result = metrics::with_local_recorder(&recorder, || chain.run("src", &meta, records, &[])).unwrap();
    assert_eq!((result.outputs.len(), result.skipped, result.dead.len()), (3, 2, 0));
    let skipped: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "sluice_plugin_records_skipped_total")
        .map(|(key, _, _, value)| {
            (key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect::<Vec<_>>(), value)
        })
        .collect();
    assert_eq!(skipped, [(vec!["plugin=misbehave".to_owned(), "pipeline=orders".to_owned()], DebugValue::Counter(2))]);
}
