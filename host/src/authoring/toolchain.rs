//! The toolchains `sluice plugin build` runs, pinned in `sdk/toolchains.toml` (built into
//! the binary) and installed by `scripts/setup --plugin-toolchains` under
//! `~/.cache/sluice/toolchains/` (or `$SLUICE_TOOLCHAINS`). The host never downloads one:
//! a missing toolchain is an error that says how to install it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

const PINS: &str = include_str!("../../../sdk/toolchains.toml");

/// The version `sdk/toolchains.toml` pins for `tool` of `language`.
pub(super) fn pinned(language: &str, tool: &str) -> String {
    let pins: toml::Table = toml::from_str(PINS).expect("sdk/toolchains.toml is valid TOML");
    let version = pins.get(language).and_then(|l| l.get(tool)).and_then(|v| v.as_str());
    version.unwrap_or_else(|| panic!("sdk/toolchains.toml pins no `{tool}` for {language}")).to_owned()
}

/// Where the toolchains are installed.
fn root() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SLUICE_TOOLCHAINS") {
        return Ok(PathBuf::from(dir));
    }
    let home =
        std::env::home_dir().context("no home directory to find the plugin toolchains in; set SLUICE_TOOLCHAINS")?;
    Ok(home.join(".cache/sluice/toolchains"))
}

fn missing(what: &str, place: &std::path::Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} is not installed in {}: `scripts/setup --plugin-toolchains` installs the pinned plugin toolchains",
        place.display()
    )
}

/// The Python toolchain: a virtual environment holding componentize-py (which builds the
/// component) and pip (which installs a project's `requirements.txt`).
pub struct Python {
    pub componentize_py: PathBuf,
    pub python: PathBuf,
}

pub fn python() -> anyhow::Result<Python> {
    let version = pinned("python", "componentize-py");
    let venv = root()?.join(format!("python-{version}"));
    let tools = Python { componentize_py: venv.join("bin/componentize-py"), python: venv.join("bin/python") };
    if !tools.componentize_py.is_file() || !tools.python.is_file() {
        return Err(missing(&format!("componentize-py {version}"), &venv));
    }
    Ok(tools)
}

/// The JavaScript toolchain: an npm project holding the pinned componentize-js,
/// componentize-qjs and esbuild. Node and npm themselves are the user's own, like cargo.
pub struct Js {
    bin: PathBuf,
}

impl Js {
    /// The command-line program of one of the toolchain's packages.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

pub fn js() -> anyhow::Result<Js> {
    let version = pinned("js", "componentize-js");
    let dir = root()?.join(format!("js-{version}"));
    let tools = Js { bin: dir.join("node_modules/.bin") };
    for tool in ["componentize-js", "componentize-qjs", "esbuild"] {
        if !tools.tool(tool).is_file() {
            return Err(missing(&format!("{tool} (with componentize-js {version})"), &dir));
        }
    }
    Ok(tools)
}

/// The pinned `wit-bindgen`, which generates the bindings of C and Go plugins.
fn wit_bindgen() -> anyhow::Result<PathBuf> {
    let version = pinned("c", "wit-bindgen");
    let dir = root()?.join(format!("wit-bindgen-{version}"));
    let wit_bindgen = dir.join("bin/wit-bindgen");
    if !wit_bindgen.is_file() {
        return Err(missing(&format!("wit-bindgen {version}"), &dir));
    }
    Ok(wit_bindgen)
}

/// The C toolchain: Debian's clang for WebAssembly (with wasm-ld, wasi-libc and clang's
/// WebAssembly builtins), and the pinned `wit-bindgen` for the bindings.
pub struct C {
    pub clang: PathBuf,
    pub wit_bindgen: PathBuf,
}

pub fn c() -> anyhow::Result<C> {
    let wit_bindgen = wit_bindgen()?;
    let clang = PathBuf::from(format!("clang-{}", pinned("c", "clang")));
    // wasi-libc is what is most often missing: clang alone compiles nothing for WASI.
    let probe = Command::new(&clang).args(["--target=wasm32-wasi", "-print-file-name=libc.a"]).output();
    let libc = probe
        .as_ref()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if !libc.is_some_and(|l| l.is_absolute() && l.is_file()) {
        anyhow::bail!(
            "{} with wasi-libc is not installed: `scripts/setup --plugin-toolchains` installs it (on Debian, the \
             packages clang-{v}, lld-{v}, wasi-libc and libclang-rt-{v}-dev-wasm32)",
            clang.display(),
            v = pinned("c", "clang")
        );
    }
    Ok(C { clang, wit_bindgen })
}

/// The Go toolchain: the user's own mainline Go (like cargo), at least the pinned
/// release, with the bindings' runtime module in its module cache, and the pinned
/// `wit-bindgen`.
pub struct Go {
    pub go: PathBuf,
    pub wit_bindgen: PathBuf,
}

pub fn go() -> anyhow::Result<Go> {
    let wit_bindgen = wit_bindgen()?;
    let go = PathBuf::from("go");
    let env = Command::new(&go).args(["env", "GOVERSION", "GOMODCACHE"]).output();
    let env = env
        .ok()
        .filter(|o| o.status.success())
        .context("cannot run go: Go plugins build with Go (https://go.dev/dl)")?;
    let env = String::from_utf8_lossy(&env.stdout).into_owned();
    let mut lines = env.lines();
    let (version, cache) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
    let least = pinned("go", "go");
    anyhow::ensure!(
        release(version) >= release(&least),
        "{version} is too old for Go plugins: they need Go {least} or later (the `wasip1` port and `go:wasmexport`)"
    );
    let module = pinned("go", "go.bytecodealliance.org/pkg");
    let place = Path::new(cache).join(format!("go.bytecodealliance.org/pkg@{module}"));
    if !place.is_dir() {
        return Err(missing(&format!("the Go module go.bytecodealliance.org/pkg {module}"), &place));
    }
    Ok(Go { go, wit_bindgen })
}

/// A Go release's numbers: `go1.26.8` is [1, 26, 8].
fn release(version: &str) -> Vec<u32> {
    version.trim_start_matches("go").split('.').map(|n| n.parse().unwrap_or(0)).collect()
}

/// The Rust toolchain is the user's own (rustup's), with the `wasm32-wasip2` target.
pub fn rust() -> anyhow::Result<()> {
    let output = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .output()
        .context("cannot run rustc: Rust plugins build with the Rust toolchain (https://rustup.rs)")?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !output.status.success() || !libdir.is_dir() {
        anyhow::bail!("the Rust target wasm32-wasip2 is not installed: `rustup target add wasm32-wasip2` installs it");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_its_pins() {
        assert!(!pinned("python", "componentize-py").is_empty());
        assert!(!pinned("python", "pytest").is_empty());
        for tool in ["componentize-js", "componentize-qjs", "esbuild", "typescript", "types-node"] {
            assert!(!pinned("js", tool).is_empty());
        }
        assert!(!pinned("c", "clang").is_empty());
        assert!(!pinned("c", "wit-bindgen").is_empty());
        assert!(!pinned("go", "go").is_empty());
        assert!(pinned("go", "go.bytecodealliance.org/pkg").starts_with('v'));
    }

    #[test]
    fn go_releases_compare_by_number() {
        assert!(release("go1.26.8") >= release("1.26"));
        assert!(release("go1.100") > release("1.26"));
        assert!(release("go1.25.9") < release("1.26"));
    }
}
