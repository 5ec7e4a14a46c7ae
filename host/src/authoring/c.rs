//! Building C plugin projects. A project is `plugin.c` (with any `src/*.c`), written
//! against the C SDK's `sluice.h`; the build
//!
//! 1. generates the C bindings of the WIT world with `wit-bindgen c`, into
//!    `.sluice/bindings/`;
//! 2. compiles and links the plugin, the SDK, the SDK's component glue and the bindings
//!    with clang for `wasm32-wasi` as a reactor (a library the host calls into, with no
//!    `main`), against Debian's wasi-libc;
//! 3. makes the core module a component with `wit-component`, in this process: the
//!    bindings carry the world's type in a custom section, and wasi-libc's WASI preview 1
//!    imports are adapted to preview 2 with the reactor adapter of the Wasmtime release
//!    the host runs on.
//!
//! Debian's wasi-libc is preview 1 only, which is why the adapter step is needed; it
//! keeps only the adapter functions the module calls, so a C component imports little
//! more than what libc's `malloc` and `printf` use.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::build::{componentize, quiet, run};
use super::{sdk, toolchain};

/// The flags every C plugin is compiled with: optimised, with the warnings that catch
/// the usual mistakes (they do not fail the build).
const CFLAGS: &[&str] = &["--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Wextra"];

/// Builds the C project in `dir` into the component `into`.
pub fn build(dir: &Path, into: &Path) -> anyhow::Result<()> {
    let tools = toolchain::c()?;
    let sluice = dir.join(sdk::DIR);
    let bindings = sluice.join("bindings");
    let mut bindgen = Command::new(&tools.wit_bindgen);
    bindgen.current_dir(dir).args(["c", "--world", "plugin"]);
    // It names each file it writes: quiet unless it fails.
    quiet(bindgen.arg(sluice.join("wit")).arg("--out-dir").arg(&bindings), "wit-bindgen c")?;

    let core = sluice.join("build/plugin.core.wasm");
    std::fs::create_dir_all(sluice.join("build"))?;
    let mut clang = Command::new(&tools.clang);
    clang.current_dir(dir).args(CFLAGS);
    clang.arg("-I.").arg("-I").arg(sluice.join("sdk/c/include")).arg("-I").arg(&bindings);
    clang.args(sources(dir)?).args(sdk::c_sources(&sluice));
    clang.arg(bindings.join("plugin.c")).arg(bindings.join("plugin_component_type.o"));
    run(clang.arg("-o").arg(&core), &tools.clang.display().to_string())?;

    let module = std::fs::read(&core).with_context(|| format!("cannot read {}", core.display()))?;
    let component = componentize(module).with_context(|| format!("cannot make a component of {}", core.display()))?;
    std::fs::write(into, component).with_context(|| format!("cannot write {}", into.display()))
}

/// The project's own sources: `plugin.c`, then `src/*.c` in name order.
fn sources(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("src")) {
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "c") {
                found.push(path);
            }
        }
    }
    found.sort();
    found.insert(0, dir.join("plugin.c"));
    Ok(found)
}
