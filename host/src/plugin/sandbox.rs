//! What one plugin is allowed: its limits, and the capabilities its config grants.
//!
//! Every WASI 0.2 interface is linked, so that components built by any language's
//! toolchain (which import filesystems and sockets whether they use them or not) load;
//! what the interfaces reach is decided here, per instance:
//! - **Given to every plugin:** the wall clock, the monotonic clock and randomness.
//!   Language runtimes need them to start at all (hash seeds, timers, garbage collectors),
//!   and none of them reaches anything outside the instance. A plugin can tell the time;
//!   it cannot wait past its deadline (see `instance`).
//! - **Granted by name only:** environment variables (the plugin sees none of the host's
//!   unless listed) and directories, each mounted read-only at a path of the config's
//!   choosing.
//! - **Never given:** writable files, the network (every address is refused and name
//!   lookup is off), stdin (empty), arguments.

use std::path::PathBuf;

use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::stdio::TailBuffer;
use crate::config::{PluginLimits, PluginRef};

#[derive(Clone, Debug, Default)]
pub struct Sandbox {
    pub limits: PluginLimits,
    /// Environment variables, with their values.
    pub env: Vec<(String, String)>,
    /// Guest path, and the host directory mounted read-only there.
    pub read_dirs: Vec<(String, PathBuf)>,
}

impl Sandbox {
    /// The sandbox of `plugin`, a checked entry of a loaded config.
    pub fn of(host_limits: &PluginLimits, plugin: &PluginRef) -> Sandbox {
        Sandbox {
            limits: host_limits.with_overrides(&plugin.limits).expect("config checked plugin limits"),
            env: plugin.grants.env_values.clone(),
            read_dirs: plugin.grants.read_dirs.iter().map(|(guest, host)| (guest.clone(), host.clone())).collect(),
        }
    }

    /// A WASI context with this sandbox's grants and nothing else.
    pub(super) fn wasi(&self, stdout: TailBuffer, stderr: TailBuffer) -> Result<WasiCtx, String> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout).stderr(stderr).allow_ip_name_lookup(false);
        for (name, value) in &self.env {
            wasi.env(name, value);
        }
        for (guest, host) in &self.read_dirs {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(|e| format!("cannot open {} to grant it as {guest}: {e:#}", host.display()))?;
        }
        Ok(wasi.build())
    }
}
