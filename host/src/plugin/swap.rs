//! Hot swap's half off the pipeline's thread: starting each new version as the plugins
//! directory publishes it, and leaving it ready for the chain, which takes it over
//! between two batches.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::engine::CompiledPlugin;
use super::instance::PluginInstance;
use super::sandbox::Sandbox;
use super::versions::SlotReport;

/// A started instance of a newer version, waiting for the gap between two batches; and
/// whether the host is stopping, which ends a backoff pause as a new version does.
pub struct Ready {
    state: Mutex<ReadyState>,
    changed: Condvar,
    /// Where the slot says which version it runs and which it holds ready.
    report: SlotReport,
}

#[derive(Default)]
struct ReadyState {
    instance: Option<PluginInstance>,
    stopping: bool,
}

impl Ready {
    /// The slot of a chain that starts on `running`, reporting its versions to `report`.
    pub fn new(report: SlotReport, running: &str) -> Ready {
        report.running(running);
        Ready { state: Mutex::default(), changed: Condvar::new(), report }
    }

    /// The instance of the newer version, if one is ready; the slot runs it from now on.
    pub fn take(&self) -> Option<PluginInstance> {
        // Reported under the lock, so that a newer version put meanwhile is not cleared.
        let mut state = self.state.lock().expect("ready slot poisoned");
        let instance = state.instance.take()?;
        self.report.running(&instance.plugin().version);
        Some(instance)
    }

    /// The slot went back to `version` (a rollback); a newer version it holds stays ready.
    pub fn rolled_back(&self, version: &str) {
        let _state = self.state.lock().expect("ready slot poisoned");
        self.report.rolled_back(version);
    }

    fn put(&self, instance: PluginInstance) {
        let mut state = self.state.lock().expect("ready slot poisoned");
        self.report.ready(&instance.plugin().version);
        state.instance = Some(instance);
        self.changed.notify_all();
    }

    /// Ends the pause of [`Ready::wait`] now and makes every later one return at once: a
    /// stopping host drains its batches without backing off.
    pub fn stop(&self) {
        self.state.lock().expect("ready slot poisoned").stopping = true;
        self.changed.notify_all();
    }

    /// Blocks for `pause`, or until a new version is ready or the host stops, if sooner.
    pub fn wait(&self, pause: Duration) {
        let guard = self.state.lock().expect("ready slot poisoned");
        let _ = self.changed.wait_timeout_while(guard, pause, |s| s.instance.is_none() && !s.stopping);
    }
}

/// Starts each version `versions` publishes, and leaves it in `ready`.
pub async fn prepare_new_versions(
    mut versions: watch::Receiver<Arc<CompiledPlugin>>,
    ready: Arc<Ready>,
    pipeline: String,
    config: Vec<(String, String)>,
    sandbox: Arc<Sandbox>,
) {
    while versions.changed().await.is_ok() {
        let version = versions.borrow_and_update().clone();
        let (name, number) = (version.name.clone(), version.version.clone());
        let (pipeline_, config_, sandbox_) = (pipeline.clone(), config.clone(), sandbox.clone());
        let started =
            tokio::task::spawn_blocking(move || PluginInstance::start(version, &pipeline_, &config_, &sandbox_)).await;
        match started {
            Ok(Ok(instance)) => {
                tracing::info!(plugin = %name, version = %number, %pipeline, "new plugin version ready; it takes over at the next batch");
                ready.put(instance);
            }
            Ok(Err(reason)) => {
                tracing::error!(plugin = %name, version = %number, %pipeline, %reason, "new plugin version failed to start; the previous version keeps running")
            }
            Err(panic) => {
                tracing::error!(plugin = %name, %pipeline, error = %panic, "starting a new plugin version panicked; the previous version keeps running")
            }
        }
    }
}
