//! Plugins: compiling, sandboxing, running and hot-swapping WebAssembly components.
//!
//! - [`engine`]: the shared Wasmtime engine; compiles a `.wasm` into a [`CompiledPlugin`].
//! - [`compiler`]: compiling a plugin file in a child process, bounded in time and memory.
//! - [`cache`]: compiled plugins kept in `data_dir`, verified before they are loaded.
//! - [`instance`]: one sandboxed instance with memory and time limits, one batch at a time.
//! - [`host_api`]: the imports a plugin may call (logging, metrics), with their budgets.
//! - [`capture`]: those calls, captured for `sluice plugin test --show`.
//! - [`sandbox`]: what an instance is allowed: its limits and capability grants.
//! - [`pool`]: the instance pool, sized for the most instances that can be alive at once.
//! - [`limiter`]: memory, tables and instance counts an instance may take.
//! - [`stdio`]: the plugin's stdout and stderr, bounded, never failing a write.
//! - [`chain`]: a pipeline's ordered plugins, and hot swaps between batches.
//! - [`isolate`]: after a failed batch, finding the records that fail it.
//! - [`health`]: backing off a plugin that fails every record, rolling back a new version
//!   that fails its first batches.
//! - [`swap`]: starting new versions off the pipeline's thread for the chain to take over.
//! - [`directory`]: the watched plugins directory that publishes new versions.
//! - [`versions`]: which version every slot runs and holds ready, for messages and status.
//! - [`inspect`]: what `sluice plugin check` reports about a file.

pub mod cache;
pub mod capture;
pub mod chain;
pub mod compiler;
pub mod directory;
pub mod engine;
mod health;
mod host_api;
pub mod inspect;
pub mod instance;
mod isolate;
mod limiter;
pub mod pool;
pub mod sandbox;
mod stdio;
mod swap;
pub mod versions;

pub use engine::{CompiledPlugin, PluginEngine};
pub use instance::{PluginInstance, PluginLabel};
pub use sandbox::Sandbox;

/// Host bindings generated from `wit/plugin.wit`, the single source of the contract.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sluice:plugin/plugin",
        // Calls into the plugin are futures, so that a deadline can end one that waits in
        // a host call (see `instance`).
        exports: { default: async },
    });
}
