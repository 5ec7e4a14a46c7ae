//! `[host] plugin_limits`: what one plugin instance may use, and the per-plugin
//! `limits` table that overrides it for one plugin of a chain; `[host] plugin_compile`:
//! what compiling one plugin file may use.

use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// What one plugin instance may use. Every limit is enforced by the host, whatever the
/// plugin's language; `docs/SECURITY.md` explains each one.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    /// Linear memory an instance may grow to, all its memories together.
    #[serde(serialize_with = "as_bytes")]
    pub memory: ByteSize,
    /// Wall-clock time one call (`process`, or instantiation with `init`) may take before
    /// it is interrupted: wasm code, host calls and sleeps alike.
    #[serde(with = "humantime_serde")]
    pub batch_timeout: Duration,
    /// Table elements (function references), all tables together.
    pub table_elements: usize,
    /// Core instances, memories and tables one instance may create.
    pub instances: usize,
    pub memories: usize,
    pub tables: usize,
    /// Outputs one input record may have.
    pub outputs_per_record: usize,
    /// Bytes of one batch's result.
    #[serde(serialize_with = "as_bytes")]
    pub result_bytes: ByteSize,
    /// Resource handles (WASI streams, files, pollables…) an instance may hold at once.
    pub handles: usize,
    /// Log lines, and their bytes, one call may write; the rest is dropped and counted.
    pub log_lines: usize,
    #[serde(serialize_with = "as_bytes")]
    pub log_bytes: ByteSize,
    /// Linear memory never shrinks: an instance whose memories have grown past this is
    /// replaced by a fresh one after the batch. Default: three quarters of `memory`.
    #[serde(serialize_with = "optional_bytes", skip_serializing_if = "Option::is_none")]
    pub recycle_memory: Option<ByteSize>,
    /// Replace the instance by a fresh one after this many batches; 0: never.
    pub recycle_after_batches: u64,
}

/// What compiling one plugin file may take. A `.wasm` is compiled to machine code when it
/// first appears (at start or in a hot swap), in a child process that these bound, so
/// that a hostile or merely huge file costs a refusal, not the host's memory or cores.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CompileLimits {
    /// Wall-clock time one compilation may take; the compiler is then stopped.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Address space of the compiler process (Cranelift's working memory, mostly).
    pub memory: ByteSize,
    /// The largest plugin file read at all.
    pub file_size: ByteSize,
}

impl Default for CompileLimits {
    fn default() -> Self {
        // The largest plugins, Python's and JavaScript's (an interpreter each, 20 to 40 MB),
        // compile in under 20 s on one core with under 600 MB, in 1 GiB of address space.
        CompileLimits { timeout: Duration::from_secs(180), memory: ByteSize::gib(2), file_size: ByteSize::mib(256) }
    }
}

impl CompileLimits {
    /// Refuses limits no plugin could be compiled within. Errors name the key.
    pub(super) fn check(&self) -> Result<(), (String, String)> {
        if self.timeout.is_zero() {
            return Err(("timeout".into(), "must be longer than zero".into()));
        }
        if self.memory < ByteSize::mib(256) {
            return Err(("memory".into(), "must be at least 256 MiB".into()));
        }
        if self.file_size < ByteSize::kib(1) {
            return Err(("file_size".into(), "must be at least 1 KiB".into()));
        }
        Ok(())
    }
}

/// Sizes serialize as exact byte counts (`ByteSize`'s own form rounds to one decimal), so
/// that [`PluginLimits::with_overrides`] gives back the host's values unchanged.
fn as_bytes<S: serde::Serializer>(size: &ByteSize, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(size.as_u64())
}

fn optional_bytes<S: serde::Serializer>(size: &Option<ByteSize>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(size.expect("skipped when none").as_u64())
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            memory: ByteSize::mib(64),
            batch_timeout: Duration::from_secs(5),
            table_elements: 100_000,
            instances: 64,
            memories: 16,
            tables: 64,
            outputs_per_record: 10_000,
            result_bytes: ByteSize::mib(64),
            handles: 10_000,
            log_lines: 1_000,
            log_bytes: ByteSize::kib(256),
            recycle_memory: None,
            recycle_after_batches: 0,
        }
    }
}

impl PluginLimits {
    /// Memory past which an instance is recycled.
    pub fn recycle_memory(&self) -> ByteSize {
        self.recycle_memory.unwrap_or(ByteSize::b(self.memory.as_u64() / 4 * 3))
    }

    /// Bytes one call from the plugin to the host may carry: the batch's result (which
    /// Wasmtime counts as data the guest gives the host), and no less than 1 MiB so that
    /// a small `result_bytes` cannot starve the WASI calls a language runtime makes.
    /// Wasmtime refuses a call past it (its "hostcall fuel") before copying anything.
    pub fn host_call_bytes(&self) -> usize {
        self.result_bytes.max(ByteSize::mib(1)).as_u64().try_into().unwrap_or(usize::MAX)
    }

    /// These limits with the keys of a plugin's own `limits` table in place of the host's.
    /// Errors name the key within `overrides`.
    pub fn with_overrides(&self, overrides: &toml::Table) -> Result<PluginLimits, (String, String)> {
        if overrides.is_empty() {
            return Ok(*self);
        }
        let mut merged = toml::Table::try_from(self).expect("limits serialize to a table");
        merged.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        let limits: PluginLimits = serde_path_to_error::deserialize(toml::Value::Table(merged)).map_err(|e| {
            let key = e.path().to_string();
            (if key == "." { String::new() } else { key }, e.into_inner().message().to_owned())
        })?;
        limits.check()?;
        Ok(limits)
    }

    /// Refuses limits that would stop every plugin from running. Errors name the key.
    pub(super) fn check(&self) -> Result<(), (String, String)> {
        if self.batch_timeout.is_zero() {
            return Err(("batch_timeout".into(), "must be longer than zero".into()));
        }
        if self.memory < ByteSize::mib(1) {
            return Err(("memory".into(), "must be at least 1 MiB".into()));
        }
        for (key, value) in [
            ("table_elements", self.table_elements),
            ("instances", self.instances),
            ("memories", self.memories),
            ("tables", self.tables),
            ("outputs_per_record", self.outputs_per_record),
            ("handles", self.handles),
        ] {
            if value == 0 {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_overrides_only_the_keys_it_names() {
        let host = PluginLimits { memory: ByteSize::mb(100), log_bytes: ByteSize::b(1001), ..PluginLimits::default() };
        let overrides: toml::Table = toml::from_str("memory = \"128 MiB\"\nbatch_timeout = \"20s\"").unwrap();
        let limits = host.with_overrides(&overrides).unwrap();
        assert_eq!(limits.memory, ByteSize::mib(128));
        assert_eq!(limits.batch_timeout, Duration::from_secs(20));
        assert_eq!((limits.log_lines, limits.log_bytes), (host.log_lines, host.log_bytes));
        assert_eq!(host.with_overrides(&toml::Table::new()).unwrap(), host);
    }

    #[test]
    fn a_bad_override_names_its_key() {
        let host = PluginLimits::default();
        let err = |text: &str| host.with_overrides(&toml::from_str(text).unwrap()).unwrap_err();
        assert_eq!(err("memory = \"1 KiB\""), ("memory".into(), "must be at least 1 MiB".into()));
        assert_eq!(err("tables = 0").0, "tables");
        let (key, message) = err("memroy = \"1 GiB\"");
        assert!(key == "memroy" && message.contains("unknown field `memroy`"), "{key}: {message}");
        let (key, message) = err("log_lines = \"many\"");
        assert!(key == "log_lines" && message.contains("invalid type"), "{key}: {message}");
    }
}
