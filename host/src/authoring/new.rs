//! `sluice plugin new NAME --lang L`: writes a plugin project that builds as is, with a
//! unit test in the language's own runner, a `plugin test` input with its expected
//! results, and a README. Every language's template does the same thing (drops
//! debug-level records, tags the others, rejects values that are not JSON objects), so
//! one expected-results file serves them all.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Language, check_name, sdk};

/// A template file: its path in the new project, and its text with `{{name}}` for the
/// plugin's name.
struct Template {
    path: &'static str,
    text: &'static str,
}

macro_rules! templates {
    ($dir:literal: $($path:literal),* $(,)?) => {
        &[$(Template { path: $path, text: include_str!(concat!("../../../sdk/templates/", $dir, "/", $path)) }),*]
    };
}

const COMMON: &[Template] = templates!["tests": "input.jsonl", "expected.jsonl"];
const RUST: &[Template] = templates!["rust": "Cargo.toml", "README.md", "src/lib.rs"];
const PYTHON: &[Template] =
    templates!["python": "README.md", "app.py", "conftest.py", "requirements.txt", "test_app.py"];
const JS: &[Template] = templates!["js": "README.md", "package.json", "src/index.js", "src/index.test.js"];
const TS: &[Template] =
    templates!["ts": "README.md", "package.json", "tsconfig.json", "src/index.ts", "src/index.test.ts"];
const GO: &[Template] = templates!["go": "README.md", "go.mod", "go.sum", "plugin.go", "plugin_test.go"];
const C: &[Template] = templates!["c": "Makefile", "README.md", "plugin.c", "test/test_plugin.c"];
const GITIGNORE: &str = include_str!("../../../sdk/templates/gitignore");

fn templates(language: Language) -> &'static [Template] {
    match language {
        Language::Rust => RUST,
        Language::Python => PYTHON,
        Language::JavaScript => JS,
        Language::TypeScript => TS,
        Language::Go => GO,
        Language::C => C,
    }
}

/// Writes the project `parent/name` and returns its directory.
pub fn new(name: &str, language: Language, parent: &Path) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let dir = parent.join(name);
    anyhow::ensure!(!dir.exists(), "{} already exists", dir.display());
    let files = templates(language).iter().map(|t| (t.path, t.text));
    let common = COMMON.iter().map(|t| (format!("tests/{}", t.path), t.text));
    let all = files.map(|(p, t)| (p.to_owned(), t)).chain(common).chain([(".gitignore".to_owned(), GITIGNORE)]);
    for (path, text) in all {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("template paths have a directory"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(&path, text.replace("{{name}}", name))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // The SDK now, so that the unit tests run before a first build.
    sdk::write(&dir, language)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Files under `dir`, recursively, relative to it.
    fn files_under(dir: &Path) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    found.insert(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        found
    }

    #[test]
    fn every_template_file_is_built_in() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/templates");
        for language in Language::ALL {
            let dir = language.to_string();
            let embedded: BTreeSet<String> = templates(language).iter().map(|t| t.path.to_owned()).collect();
            assert_eq!(embedded, files_under(&root.join(dir)), "{language}");
        }
        let common: BTreeSet<String> = COMMON.iter().map(|t| t.path.to_owned()).collect();
        assert_eq!(common, files_under(&root.join("tests")));
    }

    #[test]
    fn the_typescript_template_pins_what_the_toolchains_file_does() {
        let package: serde_json::Value =
            serde_json::from_str(TS.iter().find(|t| t.path == "package.json").unwrap().text).unwrap();
        let dev = &package["devDependencies"];
        assert_eq!(dev["typescript"], super::super::toolchain::pinned("js", "typescript"));
        assert_eq!(dev["@types/node"], super::super::toolchain::pinned("js", "types-node"));
    }

    #[test]
    fn a_new_project_has_its_name_everywhere_and_the_sdk() {
        let parent = tempfile::tempdir().unwrap();
        let dir = new("tagger", Language::Python, parent.path()).unwrap();
        let files = files_under(&dir);
        for expected in ["app.py", "README.md", "tests/expected.jsonl", ".gitignore", ".sluice/wit/plugin.wit"] {
            assert!(files.contains(expected), "{expected} missing from {files:?}");
        }
        for file in &files {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(!text.contains("{{name}}"), "{file} still has a placeholder");
        }
        assert!(std::fs::read_to_string(dir.join("tests/expected.jsonl")).unwrap().contains(r#"\"tag\":\"tagger\""#));
        let again = new("tagger", Language::Python, parent.path()).unwrap_err();
        assert!(again.to_string().ends_with("tagger already exists"), "{again}");
        assert!(new("Bad Name", Language::Rust, parent.path()).is_err());
    }
}
