//! `sluice plugin build [DIR]`: builds the plugin project in `DIR` into a component with
//! its language's toolchain and the flags the host needs, so that authors never type
//! them. The result is `DIR/build/NAME.wasm` (or `--out`), named as the project's
//! manifest names it ([`super::name`]), written whole and renamed into place, so that a
//! host watching that directory never loads half a file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{Language, c, check_name, go, js, python, sdk, toolchain};

/// A built plugin.
#[derive(Debug)]
pub struct Built {
    pub path: PathBuf,
    pub language: Language,
    pub bytes: u64,
    pub took: Duration,
}

/// Builds the project in `dir` into `out` (default `dir/build`), as the plugin `name`
/// (default: the name its manifest gives it).
pub fn build(dir: &Path, out: Option<&Path>, name: Option<&str>) -> anyhow::Result<Built> {
    let started = Instant::now();
    let dir = dir.canonicalize().with_context(|| format!("cannot open the plugin project {}", dir.display()))?;
    let language = Language::detect(&dir)?;
    let name = match name {
        Some(name) => check_name(name).map(|()| name.to_owned()).context("`--name`")?,
        None => super::name::of_project(&dir, language)?,
    };
    let name = name.as_str();
    sdk::write(&dir, language)?;

    // Absolute: the toolchains run in the project's directory.
    let out = std::path::absolute(out.unwrap_or(&dir.join("build")))?;
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join(format!("{name}.wasm"));
    let partial = out.join(format!(".{name}.wasm.{}", std::process::id()));
    let built = match language {
        Language::Rust => rust(&dir, &partial),
        Language::Python => python::build(&dir, &partial),
        Language::JavaScript | Language::TypeScript => js::build(&dir, language, &partial),
        Language::C => c::build(&dir, &partial),
        Language::Go => go::build(&dir, &partial),
    };
    if let Err(e) = built {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, &path).with_context(|| format!("cannot move the plugin into {}", path.display()))?;
    let bytes = std::fs::metadata(&path)?.len();
    Ok(Built { path, language, bytes, took: started.elapsed() })
}

/// Runs `command`, its output going to the user, and fails with `what` if it fails.
pub(super) fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("cannot start {what} ({:?})", command.get_program()))?;
    anyhow::ensure!(status.success(), "{what} failed ({status})");
    Ok(())
}

/// Runs `command` with its output kept, shown only if it fails.
pub(super) fn quiet(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("cannot start {what} ({:?})", command.get_program()))?;
    if !output.status.success() {
        eprint!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        anyhow::bail!("{what} failed ({})", output.status);
    }
    Ok(())
}

/// `cargo build --release --target wasm32-wasip2`, then the `.wasm` cargo reports.
fn rust(dir: &Path, into: &Path) -> anyhow::Result<()> {
    toolchain::rust()?;
    let output = Command::new("cargo")
        .current_dir(dir)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format", "json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot start cargo")?;
    anyhow::ensure!(output.status.success(), "cargo build failed ({})", output.status);
    // The artifact of the project's own cdylib, among those of its dependencies.
    let manifest = dir.join("Cargo.toml");
    let wasm = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["manifest_path"].as_str() == manifest.to_str())
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "wasm"));
    let wasm = wasm.context("cargo built no .wasm: the package needs `crate-type = [\"cdylib\"]` in [lib]")?;
    std::fs::copy(&wasm, into).with_context(|| format!("cannot copy {}", wasm.display()))?;
    Ok(())
}

/// A core module built against WASI preview 1, with the world's type in its custom
/// section, as a component: its preview 1 imports are adapted to preview 2 with the
/// reactor adapter of the Wasmtime release the host runs on.
pub(super) fn componentize(module: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let adapter = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
    wit_component::ComponentEncoder::default()
        .module(&module)?
        .adapter("wasi_snapshot_preview1", adapter)?
        .validate(true)
        .encode()
}
