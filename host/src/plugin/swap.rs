//! Hot swap's half off the pipeline's thread: starting each new version as the plugins
//! directory publishes it, and leaving it ready for the chain, which takes it over
//! between two batches.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::engine::CompiledPlugin;
use super::instance::PluginInstance;
use super::sandbox::Sandbox;

/// A started instance of a newer version, waiting for the gap between two batches; and
/// whether the host is stopping, which ends a backoff pause as a new version does.
#[derive(Default)]
pub struct Ready {
    state: Mutex<ReadyState>,
    changed: Condvar,
}

#[derive(Default)]
struct ReadyState {
    instance: Option<PluginInstance>,
    stopping: bool,
}

impl Ready {
    pub fn take(&self) -> Option<PluginInstance> {
        self.state.lock().expect("ready slot poisoned").instance.take()
    }

    fn put(&self, instance: PluginInstance) {
        self.state.lock().expect("ready slot poisoned").instance = Some(instance);
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
                tracing::info!(plugin = %name, version = %number, %pipeline, "new plugin version started; it takes over at the next batch");
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
