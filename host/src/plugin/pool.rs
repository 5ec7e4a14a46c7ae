//! The pool instances are allocated from.
//!
//! Wasmtime's pooling allocator reserves every slot (linear memories, tables, async
//! stacks) once, when the engine starts, and hands them out again after an instance is
//! dropped, its memory reset from the component's copy-on-write image. An instance then
//! costs about half of what mapping it afresh does (`lifecycle/instantiate` in
//! BENCHMARKS.md), which is what hot swaps, recycling and every step of poison isolation
//! pay.
//!
//! **Sizing.** The pool cannot grow, and running out would make a healthy plugin fail to
//! start, so it is sized from the config for the most instances that can be alive at
//! once: [`INSTANCES_PER_SLOT`] for every plugin of every worker, and the largest limits
//! any plugin is given. The limiter ([`super::limiter`]) still enforces each plugin's own
//! limits inside its slot.
//!
//! **Cost.** Reserved address space, not memory: every memory slot reserves Wasmtime's
//! 4 GiB (which lets compiled code skip bounds checks) plus a guard region. Pages are
//! committed only when a plugin touches them and returned when its instance is dropped. If
//! the reservation is refused (an address-space ulimit), the host falls back to mapping
//! each instance on demand, slower but otherwise the same, and says so.

use wasmtime::PoolingAllocationConfig;

use crate::config::PluginLimits;

/// Instances one plugin of one worker can have alive at once: the one running; a fresh
/// one started while a rollback or a failure replaces it; a new version waiting for the
/// gap between two batches; and a newer one starting meanwhile.
pub const INSTANCES_PER_SLOT: u32 = 4;

/// Instances `sluice validate`, `sluice plugin check` and `sluice plugin test` may need:
/// one plugin at a time, beside a replacement.
const TOOL_INSTANCES: u32 = 2 * INSTANCES_PER_SLOT;

/// How many instances the pool holds, and the largest of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSize {
    pub instances: u32,
    /// The largest limits of any plugin: every slot must fit any plugin.
    pub memory: u64,
    pub table_elements: usize,
    pub core_instances: usize,
    pub memories: usize,
    pub tables: usize,
}

impl PoolSize {
    /// A pool for `slots` plugin slots (a plugin of a worker each), whose largest limits
    /// are the largest of `limits`.
    pub fn for_slots<'a>(slots: usize, limits: impl IntoIterator<Item = &'a PluginLimits>) -> PoolSize {
        let slots = u32::try_from(slots.max(1)).unwrap_or(u32::MAX);
        let mut size = PoolSize { instances: slots.saturating_mul(INSTANCES_PER_SLOT), ..PoolSize::tools() };
        for limits in limits {
            size.memory = size.memory.max(limits.memory.as_u64());
            size.table_elements = size.table_elements.max(limits.table_elements);
            size.core_instances = size.core_instances.max(limits.instances);
            size.memories = size.memories.max(limits.memories);
            size.tables = size.tables.max(limits.tables);
        }
        size
    }

    /// A pool for the tools that run one plugin at a time with the default limits.
    pub fn tools() -> PoolSize {
        let limits = PluginLimits::default();
        PoolSize {
            instances: TOOL_INSTANCES,
            memory: limits.memory.as_u64(),
            table_elements: limits.table_elements,
            core_instances: limits.instances,
            memories: limits.memories,
            tables: limits.tables,
        }
    }

    /// Wasmtime's settings for this pool. Memory beyond 4 GiB is out of reach of a 32-bit
    /// memory anyway, and Wasmtime refuses a slot larger than its reservation.
    pub(super) fn allocation(&self) -> PoolingAllocationConfig {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let per_instance = |n: usize| self.instances.saturating_mul(count(n));
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(self.instances)
            // One async stack per call in flight, and an instance makes one call at a time.
            .total_stacks(self.instances)
            .total_core_instances(per_instance(self.core_instances))
            .total_memories(per_instance(self.memories))
            .total_tables(per_instance(self.tables))
            .max_core_instances_per_component(count(self.core_instances))
            .max_memories_per_component(count(self.memories))
            .max_tables_per_component(count(self.tables))
            .max_memories_per_module(count(self.memories))
            .max_tables_per_module(count(self.tables))
            .max_memory_size(usize::try_from(self.memory.min(4 << 30)).unwrap_or(usize::MAX))
            .table_elements(self.table_elements);
        pool
    }
}

#[cfg(test)]
mod tests {
    use bytesize::ByteSize;

    use super::*;

    #[test]
    fn the_pool_fits_every_slot_and_the_largest_limits() {
        let small = PluginLimits::default();
        let large = PluginLimits { memory: ByteSize::mib(512), memories: 3, tables: 200, ..PluginLimits::default() };
        let size = PoolSize::for_slots(6, [&small, &large]);
        assert_eq!(size.instances, 6 * INSTANCES_PER_SLOT);
        assert_eq!(size.memory, ByteSize::mib(512).as_u64());
        assert_eq!(size.memories, small.memories, "the defaults stay when one plugin asks for fewer");
        assert_eq!(size.tables, 200);
        assert_eq!(
            PoolSize::for_slots(1, [&small]).instances,
            INSTANCES_PER_SLOT,
            "exactly: the end-to-end tests run on it"
        );
    }
}
