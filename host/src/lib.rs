//! Sluice: a stream processor that runs WebAssembly component plugins between sources
//! and sinks.
//!
//! The data path, one module each:
//!
//! 1. [`source`]: connectors read records; [`source::driver`] batches them, applies
//!    backpressure and commits what is acknowledged, in order.
//! 2. [`batch`]: the unit that crosses the plugin boundary and is acknowledged as one.
//! 3. [`plugin`]: the sandboxed chain of plugins that transforms a batch
//!    ([`plugin::chain`]), with hot swaps from a watched directory.
//! 4. [`router`]: plugin outputs to the sinks of their routes, rejects to the dead-letter
//!    sink.
//! 5. [`sink`]: connectors write records; [`sink::driver`] group-commits and retries.
//! 6. [`ack`]: sinks' acceptances flow back to the source as in-order checkpoints.
//!
//! [`topology`] wires these together from a [`config::Config`]. [`authoring`] is the other
//! side of the plugin boundary: the `sluice plugin new|build|test` commands that plugin
//! authors use, in every language.

pub mod ack;
pub mod authoring;
pub mod batch;
pub mod codec;
pub mod config;
pub mod dead_letter;
pub mod kafka;
pub mod plugin;
pub mod record;
pub mod router;
pub mod sink;
pub mod source;
pub mod status;
pub mod topology;
