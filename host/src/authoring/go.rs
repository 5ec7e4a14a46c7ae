//! Building Go plugin projects. A project is a Go module (`go.mod`) whose main package
//! registers its plugin with the Go SDK's `sluice.Export`; the SDK is a module its
//! `go.mod` replaces with `.sluice/sdk/go`. The build
//!
//! 1. generates the Go bindings of the WIT world with `wit-bindgen go`, as the SDK's
//!    `bindings` packages (the SDK's component glue imports them);
//! 2. compiles the project with mainline Go for `wasip1`/`wasm` as a `c-shared` library
//!    (a reactor the host calls into; its `main` never runs), offline: the modules it
//!    needs are those `scripts/setup --plugin-toolchains` put in Go's module cache;
//! 3. embeds the world's type in the core module (Go's linker has no step for it), then
//!    makes it a component with the preview 1 adapter, as for C, in this process.
//!
//! `-checklinkname=0`: the bindings' runtime package links to `runtime.sbrk` for the
//! allocations the host asks for before Go's runtime has started, which Go 1.23+ refuses
//! by default.

use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::build::{componentize, quiet, run};
use super::{sdk, toolchain};

/// The import path the bindings are generated under, inside the SDK's module.
const BINDINGS: &str = "sluice.dev/sdk/bindings";

/// Builds the Go project in `dir` into the component `into`.
pub fn build(dir: &Path, into: &Path) -> anyhow::Result<()> {
    let tools = toolchain::go()?;
    let sluice = dir.join(sdk::DIR);
    let mut bindgen = Command::new(&tools.wit_bindgen);
    bindgen.current_dir(dir).args(["go", "--world", "plugin", "--pkg-name", BINDINGS]);
    bindgen.arg(sluice.join("wit")).arg("--out-dir").arg(sluice.join("sdk/go/bindings"));
    // It names each file it writes: quiet unless it fails.
    quiet(&mut bindgen, "wit-bindgen go")?;

    let core = sluice.join("build/plugin.core.wasm");
    std::fs::create_dir_all(sluice.join("build"))?;
    let mut go = Command::new(&tools.go);
    go.current_dir(dir).env("GOOS", "wasip1").env("GOARCH", "wasm");
    // Nothing is downloaded while building: a module missing from the cache is an error.
    go.env("GOPROXY", "off").env("GOFLAGS", "-mod=readonly");
    go.args(["build", "-buildmode=c-shared", "-ldflags=-checklinkname=0", "-trimpath", "-o"]).arg(&core).arg(".");
    run(&mut go, "go build")?;

    let mut module = std::fs::read(&core).with_context(|| format!("cannot read {}", core.display()))?;
    embed_world(&mut module, &sluice.join("wit"))?;
    let component = componentize(module).with_context(|| format!("cannot make a component of {}", core.display()))?;
    std::fs::write(into, component).with_context(|| format!("cannot write {}", into.display()))
}

/// Adds the `plugin` world's type, read from `wit`, to a core module's custom section.
fn embed_world(module: &mut Vec<u8>, wit: &Path) -> anyhow::Result<()> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(wit)?;
    let world = resolve.select_world(&[package], Some("plugin"))?;
    wit_component::embed_component_metadata(module, &resolve, world, wit_component::StringEncoding::UTF8)
}
