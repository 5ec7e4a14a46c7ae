//! The plugins directory: `NAME.wasm` is the plugin `NAME`. Watched for new versions.
//!
//! At start every plugin a pipeline names is compiled, and any failure stops the start.
//! After that, a changed file is read, compiled off the async runtime, and published on
//! the plugin's `watch` channel, where each pipeline's chain picks it up. A file that
//! fails to compile is reported and never published, so a broken build never replaces a
//! working one. Removing a file keeps the loaded version running. A refused file is
//! remembered by its SHA-256 and not compiled again until its contents change (or the
//! host restarts), however many events the watcher sends for it.
//!
//! Copying a large file in place may be seen half-written: it then fails to compile, is
//! reported, and is picked up again once the copy completes. Copying to a temporary name
//! and renaming it into place avoids the noise.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::{mpsc, watch};

use super::cache::{CompileCache, Origin};
use super::engine::{CompiledPlugin, PluginEngine, version_of};
use super::versions::SlotStates;

/// How long the directory must be quiet before a change is acted on.
const DEBOUNCE: Duration = Duration::from_millis(250);

pub struct PluginDirectory {
    dir: PathBuf,
    engine: Arc<PluginEngine>,
    cache: Arc<CompileCache>,
    plugins: BTreeMap<String, watch::Sender<Arc<CompiledPlugin>>>,
    /// The version of each plugin's file last refused, so that more events for the same
    /// file (a watcher may send several for one copy) do not compile it again: a refusal
    /// can cost a compilation's whole time and memory limits.
    refused: Mutex<HashMap<String, String>>,
    /// What the chains run, which a published version may never be.
    slots: Arc<SlotStates>,
}

/// Keeps the directory watched; dropping it stops the watching.
pub struct DirectoryWatch {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

impl PluginDirectory {
    /// Compiles the named plugins from `dir`, through `cache`. The error lists every
    /// plugin that failed.
    pub async fn load(
        engine: Arc<PluginEngine>,
        cache: CompileCache,
        dir: &Path,
        names: &BTreeSet<String>,
    ) -> anyhow::Result<Arc<Self>> {
        let cache = Arc::new(cache);
        let mut plugins = BTreeMap::new();
        let mut failures = Vec::new();
        for name in names {
            let started = std::time::Instant::now();
            match compile_file(&engine, &cache, dir, name).await {
                Ok((compiled, origin)) => {
                    tracing::info!(plugin = %name, version = %compiled.version, bytes = compiled.size, ?origin, took = ?started.elapsed(), "plugin loaded");
                    plugins.insert(name.clone(), watch::channel(Arc::new(compiled)).0);
                }
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        if !failures.is_empty() {
            anyhow::bail!("{}", failures.join("\n"));
        }
        let slots = Arc::default();
        Ok(Arc::new(PluginDirectory { dir: dir.to_owned(), engine, cache, plugins, refused: Mutex::default(), slots }))
    }

    /// The versions of plugin `name`, starting with the loaded one.
    pub fn subscribe(&self, name: &str) -> Option<watch::Receiver<Arc<CompiledPlugin>>> {
        self.plugins.get(name).map(watch::Sender::subscribe)
    }

    /// What every chain slot runs and holds ready; each slot registers itself here.
    pub fn slots(&self) -> &Arc<SlotStates> {
        &self.slots
    }

    /// Starts watching the directory; new versions are published until the returned
    /// handle is dropped.
    pub fn watch(self: &Arc<Self>) -> anyhow::Result<DirectoryWatch> {
        let (changed_tx, mut changed) = mpsc::unbounded_channel::<String>();
        let rescan_tx = changed_tx.clone();
        let tracked: BTreeSet<String> = self.plugins.keys().cloned().collect();
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |events: DebounceEventResult| match events {
            Ok(events) => {
                let names: BTreeSet<String> = events
                    .iter()
                    .flat_map(|e| e.paths.iter())
                    .filter_map(|p| plugin_name(p))
                    .filter(|n| tracked.contains(n))
                    .collect();
                for name in names {
                    let _ = changed_tx.send(name);
                }
            }
            Err(errors) => {
                tracing::error!(?errors, "watching the plugins directory failed")
            }
        })?;
        debouncer
            .watch(&self.dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch {}", self.dir.display()))?;
        // A file replaced after the plugins were loaded and before the watch began raised
        // no event: look at every plugin once more (unchanged files cost a hash and a
        // compile-cache hit).
        for name in self.plugins.keys() {
            let _ = rescan_tx.send(name.clone());
        }
        let this = self.clone();
        tokio::spawn(async move {
            while let Some(name) = changed.recv().await {
                this.reload(&name).await;
            }
        });
        tracing::info!(dir = %self.dir.display(), "watching for new plugin versions");
        Ok(DirectoryWatch { _debouncer: debouncer })
    }

    async fn reload(&self, name: &str) {
        let sender = &self.plugins[name];
        let path = self.dir.join(format!("{name}.wasm"));
        if !path.exists() {
            tracing::warn!(plugin = name, "plugin file removed; the loaded version keeps running");
            return;
        }
        let started = std::time::Instant::now();
        // The newest version published; the chains may run another (one that failed its
        // `init` was published and never ran).
        let latest = sender.borrow().version.clone();
        let compiled = match read_file(&self.engine, &self.dir, name).await {
            Ok((path, bytes)) => {
                let version = version_of(&bytes);
                if version == latest {
                    return;
                }
                if self.refused.lock().expect("not poisoned").get(name) == Some(&version) {
                    tracing::debug!(plugin = name, %version, "plugin file unchanged since it was rejected");
                    return;
                }
                let compiled = compile_bytes(&self.engine, &self.cache, name, path, bytes).await;
                if compiled.is_err() {
                    self.refused.lock().expect("not poisoned").insert(name.to_owned(), version);
                }
                compiled
            }
            Err(e) => Err(e),
        };
        match compiled {
            Ok((compiled, origin)) => {
                tracing::info!(plugin = name, version = %compiled.version, ?origin, took = ?started.elapsed(), "new plugin version compiled");
                sender.send_replace(Arc::new(compiled));
            }
            Err(e) => {
                let running = self.slots.running(name);
                tracing::error!(plugin = name, %running, error = one_line(&format!("{e:#}")), "new plugin file rejected; the running version stays");
            }
        }
    }
}

/// `message` on one line, each run of white space (line breaks among it: Wasmtime's
/// messages hold pretty-printed byte arrays) made one space.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `dir/NAME.wasm` → `NAME`; anything else (temporary files, other extensions) → `None`.
fn plugin_name(path: &Path) -> Option<String> {
    if path.extension()? != "wasm" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    crate::config::is_plugin_name(stem).then(|| stem.to_owned())
}

/// The contents of `path`, refused without being read whole if they exceed `max` bytes.
async fn read_at_most(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).await?;
    if bytes.len() as u64 > max {
        anyhow::bail!("the file is larger than {} (`[host] plugin_compile.file_size`)", bytesize::ByteSize::b(max));
    }
    Ok(bytes)
}

/// Reads and compiles (or loads from `cache`) `dir/NAME.wasm` on a blocking thread.
async fn compile_file(
    engine: &Arc<PluginEngine>,
    cache: &Arc<CompileCache>,
    dir: &Path,
    name: &str,
) -> anyhow::Result<(CompiledPlugin, Origin)> {
    let (path, bytes) = read_file(engine, dir, name).await?;
    compile_bytes(engine, cache, name, path, bytes).await
}

/// The path and contents of `dir/NAME.wasm`, within the engine's file size limit.
async fn read_file(engine: &PluginEngine, dir: &Path, name: &str) -> anyhow::Result<(PathBuf, Vec<u8>)> {
    let path = dir.join(format!("{name}.wasm"));
    let bytes = read_at_most(&path, engine.max_file_size())
        .await
        .with_context(|| format!("plugin `{name}`: cannot read {}", path.display()))?;
    Ok((path, bytes))
}

/// Compiles (or loads from `cache`) the plugin `name` read from `path`, on a blocking thread.
async fn compile_bytes(
    engine: &Arc<PluginEngine>,
    cache: &Arc<CompileCache>,
    name: &str,
    path: PathBuf,
    bytes: Vec<u8>,
) -> anyhow::Result<(CompiledPlugin, Origin)> {
    let (engine, cache) = (engine.clone(), cache.clone());
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        engine.compile_cached(&name, &bytes, &cache).with_context(|| format!("plugin `{name}` ({})", path.display()))
    })
    .await?
}
