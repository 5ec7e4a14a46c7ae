//! What one instance may take from the host: linear memory and table elements summed over
//! all its memories and tables, and how many core instances, memories and tables it may
//! create.
//!
//! Wasmtime asks a store's [`ResourceLimiter`] before every growth, with one memory's or
//! one table's sizes. A component is several core modules (the plugin, a libc, WASI
//! adapters), each free to declare memories of its own, so a cap per memory would let a
//! component take a multiple of it: the limiter keeps the totals instead.

use std::fmt;

use bytesize::ByteSize;
use wasmtime::ResourceLimiter;

use crate::config::PluginLimits;

/// Bytes of one table element: a pointer in Wasmtime's tables.
const TABLE_ELEMENT_BYTES: u64 = 8;

pub struct Limiter {
    memory_limit: usize,
    table_limit: usize,
    memory_total: usize,
    table_total: usize,
    instances: usize,
    memories: usize,
    tables: usize,
}

impl Limiter {
    /// Bytes of linear memory the instance holds, all memories together.
    pub fn memory_in_use(&self) -> usize {
        self.memory_total
    }

    pub fn new(limits: &PluginLimits) -> Self {
        Limiter {
            memory_limit: limits.memory.as_u64().try_into().unwrap_or(usize::MAX),
            table_limit: limits.table_elements,
            memory_total: 0,
            table_total: 0,
            instances: limits.instances,
            memories: limits.memories,
            tables: limits.tables,
        }
    }
}

/// The trap cause when a plugin tries to grow past a cap: recognised by the host and
/// quoted in dead letters.
#[derive(Debug)]
pub enum LimitExceeded {
    Memory { limit: usize, desired: usize },
    Table { limit: usize, desired: usize },
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LimitExceeded::Memory { limit, desired } => write!(
                f,
                "plugin exceeded its memory limit of {} (tried to grow to {})",
                ByteSize::b(limit as u64),
                ByteSize::b(desired as u64)
            ),
            LimitExceeded::Table { limit, desired } => write!(
                f,
                "plugin exceeded its limit of {limit} table elements (tried to grow to {desired}, about {})",
                ByteSize::b(desired as u64 * TABLE_ELEMENT_BYTES)
            ),
        }
    }
}

impl std::error::Error for LimitExceeded {}

/// Grows `total` by one memory's or table's growth from `current` to `desired`, if the
/// new total stays within `limit`; `Err` is the total it would have reached.
fn grow(total: &mut usize, current: usize, desired: usize, limit: usize) -> Result<(), usize> {
    let grown = *total - current.min(*total) + desired;
    if grown > limit {
        return Err(grown);
    }
    *total = grown;
    Ok(())
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let limit = self.memory_limit;
        grow(&mut self.memory_total, current, desired, limit)
            .map_err(|desired| LimitExceeded::Memory { limit, desired })?;
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let limit = self.table_limit;
        grow(&mut self.table_total, current, desired, limit)
            .map_err(|desired| LimitExceeded::Table { limit, desired })?;
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.memories
    }

    fn tables(&self) -> usize {
        self.tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_capped_over_all_memories_together() {
        let limits = PluginLimits { memory: ByteSize::b(100), ..PluginLimits::default() };
        let mut limiter = Limiter::new(&limits);
        assert!(limiter.memory_growing(0, 60, None).unwrap(), "the first memory");
        assert!(limiter.memory_growing(60, 70, None).unwrap(), "it grows: 70 in all");
        let second = limiter.memory_growing(0, 40, None).unwrap_err();
        assert!(second.to_string().contains("memory limit of 100 B (tried to grow to 110 B)"), "{second}");
        assert!(limiter.memory_growing(0, 30, None).unwrap(), "a second memory within what is left");
    }
}
