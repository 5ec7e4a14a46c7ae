//! The SDKs and the WIT contract, built into the binary and written into a project's
//! `.sluice/` directory, laid out as in this repository (`wit/`, `sdk/<language>/`), so
//! that the Rust SDK's relative paths (`sdk/rust` → `../wire`, `../../wit`) hold there
//! too. A unit test checks that every file of each SDK is in these lists.

use std::path::Path;

use anyhow::Context;

use super::Language;

/// A file of an SDK: its path in this repository (and under `.sluice/`), and its text.
struct Embedded {
    path: &'static str,
    text: &'static str,
}

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(Embedded { path: $path, text: include_str!(concat!("../../../", $path)) }),*]
    };
}

const CONTRACT: &[Embedded] = embed!["wit/plugin.wit"];

const RUST: &[Embedded] = embed![
    "sdk/rust/Cargo.toml",
    "sdk/rust/src/host.rs",
    "sdk/rust/src/json.rs",
    "sdk/rust/src/lib.rs",
    "sdk/rust/src/testing.rs",
    "sdk/wire/Cargo.toml",
    "sdk/wire/src/lib.rs",
];

const PYTHON: &[Embedded] = embed![
    "sdk/python/sluice_sdk/__init__.py",
    "sdk/python/sluice_sdk/_batch.py",
    "sdk/python/sluice_sdk/_host.py",
    "sdk/python/sluice_sdk/_plugin.py",
    "sdk/python/sluice_sdk/_record.py",
    "sdk/python/sluice_sdk/_wire.py",
    "sdk/python/sluice_sdk/json.py",
    "sdk/python/sluice_sdk/testing.py",
];

/// The SDK of JavaScript and TypeScript alike: the modules, their types, and the
/// package that a project's `file:` dependency installs.
const JS: &[Embedded] = embed![
    "sdk/js/package.json",
    "sdk/js/src/batch.js",
    "sdk/js/src/host.js",
    "sdk/js/src/index.js",
    "sdk/js/src/json.js",
    "sdk/js/src/plugin.js",
    "sdk/js/src/record.js",
    "sdk/js/src/sourcemap.js",
    "sdk/js/src/testing.js",
    "sdk/js/src/utf8.js",
    "sdk/js/src/wire.js",
    "sdk/js/types/index.d.ts",
    "sdk/js/types/testing.d.ts",
];

/// The C SDK: its headers, its sources (`src/`, built into every C plugin), the glue to
/// the bindings (`component/`, built into components), the testing library (`testing/`,
/// built into native tests instead) and the test rules a project's Makefile includes.
const C: &[Embedded] = embed![
    "sdk/c/component/component.c",
    "sdk/c/include/sluice.h",
    "sdk/c/include/sluice_testing.h",
    "sdk/c/src/batch.c",
    "sdk/c/src/config.c",
    "sdk/c/src/internal.h",
    "sdk/c/src/json.c",
    "sdk/c/src/upper.c",
    "sdk/c/src/utf8.c",
    "sdk/c/test.mk",
    "sdk/c/testing/testing.c",
];

/// The C files a component is built from, in a project's `.sluice/` (`sluice`): the SDK's
/// sources and its component glue.
pub fn c_sources(sluice: &Path) -> Vec<std::path::PathBuf> {
    C.iter()
        .filter(|f| f.path.ends_with(".c") && !f.path.starts_with("sdk/c/testing/"))
        .map(|f| sluice.join(f.path))
        .collect()
}

/// The Go SDK: a module a project's `go.mod` replaces with `.sluice/sdk/go`. Its
/// `bindings/` packages are generated there by each build, beside the SDK's own
/// implementation of the export (`bindings/exports/export_sluice_plugin_transform`).
const GO: &[Embedded] = embed![
    "sdk/go/bindings/exports/export_sluice_plugin_transform/transform.go",
    "sdk/go/component_wasip1.go",
    "sdk/go/config.go",
    "sdk/go/go.mod",
    "sdk/go/go.sum",
    "sdk/go/host.go",
    "sdk/go/host_native.go",
    "sdk/go/internal/capture/capture.go",
    "sdk/go/internal/wire/host.go",
    "sdk/go/internal/wire/result.go",
    "sdk/go/internal/wire/wire.go",
    "sdk/go/json.go",
    "sdk/go/output.go",
    "sdk/go/panic.go",
    "sdk/go/plugin.go",
    "sdk/go/record.go",
    "sdk/go/sluicetest/sluicetest.go",
];

fn files(language: Language) -> &'static [Embedded] {
    match language {
        Language::Rust => RUST,
        Language::Python => PYTHON,
        Language::JavaScript | Language::TypeScript => JS,
        Language::Go => GO,
        Language::C => C,
    }
}

/// Where the SDK and the contract live in a project.
pub const DIR: &str = ".sluice";

/// Writes the contract and `language`'s SDK into `project/.sluice/`. Files whose content
/// is already right are left alone, so that their build tools see nothing new.
pub fn write(project: &Path, language: Language) -> anyhow::Result<()> {
    for file in CONTRACT.iter().chain(files(language)) {
        let path = project.join(DIR).join(file.path);
        if std::fs::read(&path).is_ok_and(|old| old == file.text.as_bytes()) {
            continue;
        }
        let parent = path.parent().expect("embedded paths have a directory");
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        std::fs::write(&path, file.text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The SDK files in the repository, under `dirs`, with one of `extensions`.
    fn in_repository(dirs: &[&str], extensions: &[&str]) -> BTreeSet<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut found = BTreeSet::new();
        for dir in dirs {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if extensions.iter().any(|e| name.ends_with(e)) {
                    found.insert(format!("{dir}/{name}"));
                }
            }
        }
        found
    }

    fn embedded(language: Language) -> BTreeSet<String> {
        files(language).iter().map(|f| f.path.to_owned()).collect()
    }

    #[test]
    fn every_sdk_file_is_built_in() {
        let rust = in_repository(&["sdk/rust", "sdk/rust/src", "sdk/wire", "sdk/wire/src"], &[".rs", "Cargo.toml"]);
        assert_eq!(embedded(Language::Rust), rust);
        assert_eq!(embedded(Language::Python), in_repository(&["sdk/python/sluice_sdk"], &[".py"]));
        let js = in_repository(&["sdk/js", "sdk/js/src", "sdk/js/types"], &[".js", ".d.ts", "package.json"]);
        assert_eq!(embedded(Language::JavaScript), js);
        let c = in_repository(
            &["sdk/c", "sdk/c/component", "sdk/c/include", "sdk/c/src", "sdk/c/testing"],
            &[".c", ".h", ".mk"],
        );
        assert_eq!(embedded(Language::C), c);
        let go_dirs = [
            "sdk/go",
            "sdk/go/bindings/exports/export_sluice_plugin_transform",
            "sdk/go/internal/capture",
            "sdk/go/internal/wire",
            "sdk/go/sluicetest",
        ];
        let mut go = in_repository(&go_dirs, &[".go", "go.mod", "go.sum"]);
        // The SDK's own tests run in the repository only (they read sdk/vectors).
        go.retain(|f| !f.ends_with("_test.go"));
        assert_eq!(embedded(Language::Go), go);
    }

    #[test]
    fn writing_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), Language::Python).unwrap();
        let init = dir.path().join(".sluice/sdk/python/sluice_sdk/__init__.py");
        let wit = dir.path().join(".sluice/wit/plugin.wit");
        assert!(std::fs::read_to_string(&wit).unwrap().contains("package sluice:plugin@"));
        let before = std::fs::metadata(&init).unwrap().modified().unwrap();
        write(dir.path(), Language::Python).unwrap();
        assert_eq!(std::fs::metadata(&init).unwrap().modified().unwrap(), before);
    }
}
