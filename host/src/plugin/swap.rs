//! Hot swap's half off the pipeline's thread: starting each new version as the plugins
//! directory publishes it, and leaving it ready for the chain, which takes it over
//! between two batches.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::engine::CompiledPlugin;
use super::instance::PluginInstance;
use super::sandbox::Sandbox;

/// A started instance of a newer version, waiting for the gap between two batches.
#[derive(Default)]
pub struct Ready {
    instance: Mutex<Option<PluginInstance>>,
    arrived: Condvar,
}

impl Ready {
    pub fn take(&self) -> Option<PluginInstance> {
        self.instance.lock().expect("ready slot poisoned").take()
    }

    fn put(&self, instance: PluginInstance) {
        *self.instance.lock().expect("ready slot poisoned") = Some(instance);
        self.arrived.notify_all();
    }

    /// Blocks for `pause`, or until a new version is ready if that is sooner.
    pub fn wait(&self, pause: Duration) {
        let guard = self.instance.lock().expect("ready slot poisoned");
        let _ = self.arrived.wait_timeout_while(guard, pause, |ready| ready.is_none());
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
