//! End-to-end tests: the real `sluice` binary, real files, the example plugins built for
//! wasm32-wasip2 and in every SDK language. Each test works in its own scratch folder.

mod harness;

mod author_errors;
mod author_loop;
mod backpressure;
mod config_errors;
mod delivery;
mod file_source;
mod hot_swap;
mod instance_pool;
mod kafka;
mod languages;
mod plugin_cli;
mod plugin_failures;
mod plugin_metrics;
mod plugin_policy;
mod routing;
