//! `sluice plugin check`: what a `.wasm` file is, and whether the host can run it.

use std::fmt;

use super::bindings::PluginPre;
use super::cache::{CompileCache, Origin};
use super::engine::PluginEngine;

/// Interfaces the host links: its own, and WASI 0.2 with no capabilities granted.
const HOST_INTERFACE: &str = "sluice:plugin/host";
const WASI_P2: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// Whether the host provides the import called `name` (`package/interface@version`).
pub fn host_provides(name: &str) -> bool {
    let (interface, version) = name.split_once('@').unwrap_or((name, ""));
    (interface == HOST_INTERFACE && version.starts_with("0.1."))
        || (WASI_P2.contains(&interface) && version.starts_with("0.2."))
}

pub struct Inspection {
    pub name: String,
    pub size: usize,
    pub exports: Vec<String>,
    /// Each import, and whether the host provides it.
    pub imports: Vec<(String, bool)>,
    /// `Ok` if the host can run it; otherwise why not.
    pub verdict: Result<(), String>,
    /// Where its compiled code came from, when it went through a cache.
    pub origin: Option<Origin>,
}

impl PluginEngine {
    /// Describes `bytes` as a plugin. `Err` only if it is not a component at all.
    pub fn inspect(&self, name: &str, bytes: &[u8]) -> anyhow::Result<Inspection> {
        self.inspect_cached(name, bytes, None)
    }

    /// Like [`PluginEngine::inspect`], compiling through `cache` when there is one.
    pub fn inspect_cached(&self, name: &str, bytes: &[u8], cache: Option<&CompileCache>) -> anyhow::Result<Inspection> {
        let component = match cache {
            Some(cache) => cache.load(&self.engine, bytes, |bytes| self.component(bytes)).map(|(c, o)| (c, Some(o))),
            None => self.component(bytes).map(|component| (component, None)),
        };
        let (component, origin) = match component {
            Ok(loaded) => loaded,
            // Reuse compile's explanation (core module, not wasm, ...).
            Err(_) => {
                return Err(self.compile(name, bytes).err().unwrap_or_else(|| anyhow::anyhow!("not a component")));
            }
        };
        let ty = component.component_type();
        let exports = ty.exports(&self.engine).map(|(n, _)| n.to_owned()).collect();
        let imports = ty.imports(&self.engine).map(|(n, _)| (n.to_owned(), host_provides(n))).collect();
        let verdict = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("it needs imports the host does not provide: {e:#}"))
            .and_then(|pre| {
                PluginPre::new(pre).map(drop).map_err(|e| format!("it does not export the plugin world: {e:#}"))
            });
        Ok(Inspection { name: name.to_owned(), size: bytes.len(), exports, imports, verdict, origin })
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plugin:  {}", self.name)?;
        writeln!(f, "size:    {} bytes", self.size)?;
        writeln!(f, "exports:")?;
        for export in &self.exports {
            writeln!(f, "  {export}")?;
        }
        writeln!(f, "imports:")?;
        for (import, provided) in &self.imports {
            writeln!(f, "  {import:<44} {}", if *provided { "provided" } else { "NOT PROVIDED by the host" })?;
        }
        match &self.verdict {
            Ok(()) => write!(f, "verdict: ok, a component of the sluice:plugin/plugin world"),
            Err(why) => write!(f, "verdict: unusable: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_provides;

    #[test]
    fn knows_which_imports_the_host_links() {
        assert!(host_provides("sluice:plugin/host@0.1.0"));
        assert!(host_provides("wasi:io/streams@0.2.6"));
        assert!(!host_provides("wasi:io/streams@0.3.0"));
        assert!(!host_provides("wasi:http/outgoing-handler@0.2.0"));
        assert!(!host_provides("sluice:plugin/host@0.2.0"));
    }
}
