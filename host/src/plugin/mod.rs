//! Plugins: compiling, sandboxing, running and hot-swapping WebAssembly components.
//!
//! - [`engine`]: the shared Wasmtime engine; compiles a `.wasm` into a [`CompiledPlugin`].
//! - [`instance`]: one sandboxed instance with memory and time limits, one batch at a time.
//! - [`host_api`]: the imports a plugin may call (logging, metrics).
//! - [`chain`]: a pipeline's ordered plugins, and hot swaps between batches.
//! - [`directory`]: the watched plugins directory that publishes new versions.
//! - [`inspect`]: what `sluice plugin check` reports about a file.

pub mod chain;
pub mod directory;
pub mod engine;
mod host_api;
pub mod inspect;
pub mod instance;

pub use engine::{CompiledPlugin, PluginEngine};
pub use instance::{PluginInstance, PluginLabel};

/// Host bindings generated from `wit/plugin.wit`, the single source of the contract.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sluice:plugin/plugin",
    });
}
