//! The Wasmtime engine, shared by every plugin, and compiling plugins for it.
//!
//! One [`PluginEngine`] per process: it owns the `Engine` (compiled code is tied to it),
//! the `Linker` that provides the `sluice:plugin/host` imports and a capability-free WASI,
//! a thread that advances the epoch used for per-batch deadlines, and the pool instances
//! are allocated from (see [`super::pool`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use super::bindings::PluginPre;
use super::cache::{CompileCache, Origin};
use super::compiler::IsolatedCompiler;
use super::instance::InstanceState;
use super::pool::PoolSize;

/// How often the epoch advances: the resolution of batch deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The wasm stack one call may use (Wasmtime's default); deeper recursion traps with a
/// stack overflow, which the host reports as such.
pub const WASM_STACK: usize = 512 * 1024;

/// The native stack a call runs on: the wasm stack plus room for the host functions it
/// calls (WASI among them).
const CALL_STACK: usize = WASM_STACK + 1024 * 1024;

pub struct PluginEngine {
    pub(super) engine: Engine,
    pub(super) linker: Linker<InstanceState>,
    /// Compiles in a bounded child process; `None`: in this process (the author commands,
    /// which compile the user's own file once, and tests).
    compiler: Option<IsolatedCompiler>,
}

/// A plugin version compiled and linked, ready to instantiate many times.
pub struct CompiledPlugin {
    /// The file stem in the plugins directory.
    pub name: String,
    /// The first 12 hex digits of the file's SHA-256: identifies the exact build.
    pub version: String,
    pub size: usize,
    pub(super) pre: PluginPre<InstanceState>,
}

impl PluginEngine {
    /// An engine with a pool for the tools that run one plugin at a time.
    pub fn new() -> anyhow::Result<Arc<Self>> {
        Self::with_pool(&PoolSize::tools())
    }

    /// An engine whose instances come from a pool of `size`, or are mapped on demand if
    /// the pool's address space cannot be reserved.
    pub fn with_pool(size: &PoolSize) -> anyhow::Result<Arc<Self>> {
        Self::build(Some(size))
    }

    /// The service's engine: instances from a pool of `size`, and every compilation in a
    /// child process bounded by `compiler`.
    pub fn isolated(size: &PoolSize, compiler: IsolatedCompiler) -> anyhow::Result<Arc<Self>> {
        let mut engine = Self::build(Some(size))?;
        Arc::get_mut(&mut engine).expect("not shared yet").compiler = Some(compiler);
        Ok(engine)
    }

    /// An engine that maps every instance on its own: what [`PluginEngine::with_pool`]
    /// falls back to, and what `host/benches/lifecycle.rs` measures the pool against.
    pub fn on_demand() -> anyhow::Result<Arc<Self>> {
        Self::build(None)
    }

    fn build(pool: Option<&PoolSize>) -> anyhow::Result<Arc<Self>> {
        let mut config = codegen_config();
        let engine = match pool {
            None => Engine::new(&config)?,
            Some(size) => {
                config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(size.allocation()));
                Engine::new(&config).or_else(|error| {
                    tracing::warn!(instances = size.instances, error = %format!("{error:#}"), "cannot reserve the plugin instance pool; instances are mapped one by one instead (slower to start)");
                    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand);
                    Engine::new(&config)
                })?
            }
        };

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        super::host_api::add_to_linker(&mut linker)?;

        let weak = engine.weak();
        std::thread::Builder::new().name("sluice-epoch".into()).spawn(move || {
            while let Some(engine) = weak.upgrade() {
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
                if let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                }
            }
        })?;
        Ok(Arc::new(PluginEngine { engine, linker, compiler: None }))
    }

    /// The largest plugin file this engine reads.
    pub fn max_file_size(&self) -> u64 {
        self.compiler.as_ref().map_or(u64::MAX, |c| c.limits.file_size.as_u64())
    }

    /// `bytes` compiled, by the isolated compiler if there is one.
    pub(super) fn component(&self, bytes: &[u8]) -> anyhow::Result<Component> {
        let Some(compiler) = &self.compiler else {
            return Component::from_binary(&self.engine, bytes).map_err(anyhow::Error::from);
        };
        let code = compiler.compile(bytes)?;
        // SAFETY: `code` is what `Component::serialize` wrote in a child process running
        // this same executable with the settings of `codegen_config` (see
        // `IsolatedCompiler::compile`), read whole from its stdout after it exited with
        // success. Wasmtime checks its own header (its version, the target, the settings)
        // before using it, and refuses code of another build.
        unsafe { Component::deserialize(&self.engine, &code) }.map_err(anyhow::Error::from)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles and links `bytes` as the plugin `name`. Blocking and CPU-heavy (Cranelift
    /// runs here): call it from a blocking thread, never from the async runtime.
    ///
    /// Fails, saying why, if the bytes are not a component, if the component imports
    /// anything the host does not provide, or if it does not export the plugin world.
    pub fn compile(&self, name: &str, bytes: &[u8]) -> anyhow::Result<CompiledPlugin> {
        check_header(bytes)?;
        let component = self.component(bytes).context("not a valid WebAssembly component")?;
        self.link(name, bytes, component)
    }

    /// Like [`PluginEngine::compile`], through `cache`: a version compiled before (by this
    /// host build, with these settings) is loaded instead of compiled.
    pub fn compile_cached(
        &self,
        name: &str,
        bytes: &[u8],
        cache: &CompileCache,
    ) -> anyhow::Result<(CompiledPlugin, Origin)> {
        check_header(bytes)?;
        let (component, origin) = cache
            .load(&self.engine, bytes, |bytes| self.component(bytes))
            .context("not a valid WebAssembly component")?;
        Ok((self.link(name, bytes, component)?, origin))
    }

    fn link(&self, name: &str, bytes: &[u8], component: Component) -> anyhow::Result<CompiledPlugin> {
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component needs imports that Sluice does not provide")?;
        let pre = PluginPre::new(instance_pre).map_err(anyhow::Error::from).context(
            "the component does not export the `sluice:plugin/transform` interface of the `sluice:plugin/plugin` world",
        )?;
        Ok(CompiledPlugin { name: name.to_owned(), version: version_of(bytes), size: bytes.len(), pre })
    }
}

/// The version of a plugin file: the first 12 hex digits of its SHA-256.
pub fn version_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The engine settings that decide what compiled code looks like: the same in the host
/// and in the isolated compiler, whose code the host loads.
pub(super) fn codegen_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Deadlines: the store traps once the epoch passes its deadline. Cheaper than fuel
    // (a check at loop back-edges and function entries, not a counter per instruction).
    config.epoch_interruption(true);
    config.max_wasm_stack(WASM_STACK);
    config.async_stack_size(CALL_STACK);
    config
}

/// Refuses, in words a person reads, a file that is not a component before Wasmtime sees
/// it (whose message for a file that is not WebAssembly at all spans lines of byte
/// arrays). A core module starts with the magic and version 1; a component has layer 1 in
/// the upper half of the version word.
pub(super) fn check_header(bytes: &[u8]) -> anyhow::Result<()> {
    match bytes {
        [] => anyhow::bail!("not a WebAssembly file: the file is empty"),
        [0, b'a', b's', b'm', 1, 0, 0, 0, ..] => anyhow::bail!(
            "this is a core WebAssembly module, not a component: build it for `wasm32-wasip2`, or wrap it with `wasm-tools component new`"
        ),
        [0, b'a', b's', b'm', ..] => Ok(()),
        _ => {
            let first: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            anyhow::bail!(
                "not a WebAssembly file: it does not begin with the bytes 00 61 73 6d but with {}",
                first.join(" ")
            )
        }
    }
}
