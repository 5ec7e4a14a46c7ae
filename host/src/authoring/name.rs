//! What a project's plugin is called: the name its own manifest gives it, so that a copy
//! of the project in another directory still builds the same plugin.
//!
//! | language | where the name is |
//! | --- | --- |
//! | Rust | `Cargo.toml`: `package.name` |
//! | JavaScript, TypeScript | `package.json`: `name`, without an npm scope (`@team/`) |
//! | Go | `go.mod`: the last element of the `module` path |
//! | Python | `pyproject.toml`: `project.name`, if there is one |
//! | C | (no manifest) |
//!
//! Without a name there, the project's directory names it. `plugin build --name` overrides
//! both.

use std::path::Path;

use anyhow::Context;

use super::{Language, check_name};

/// The plugin name of the project in `dir`.
pub fn of_project(dir: &Path, language: Language) -> anyhow::Result<String> {
    let found = from_manifest(dir, language)?;
    let (name, source) = match found {
        Some((name, source)) => (name, source),
        None => {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            (name, format!("the name of the directory {}", dir.display()))
        }
    };
    check_name(&name).with_context(|| format!("{source} names the plugin; give another with `--name`"))?;
    Ok(name)
}

/// A name found, and where (for messages).
type Found = Option<(String, String)>;

/// Reads a manifest's text (and its path, for messages) for the name in it.
type Parse = fn(&str, &str) -> anyhow::Result<Found>;

/// The name in the project's manifest, if it has one that names it.
fn from_manifest(dir: &Path, language: Language) -> anyhow::Result<Found> {
    let read = |file: &str| -> anyhow::Result<Found> {
        let path = dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some((text, path.display().to_string()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    };
    let (file, parse): (&str, Parse) = match language {
        Language::Rust => ("Cargo.toml", |text, path| toml_name(text, path, "package")),
        Language::Python => ("pyproject.toml", |text, path| toml_name(text, path, "project")),
        Language::JavaScript | Language::TypeScript => ("package.json", npm_name),
        Language::Go => ("go.mod", |text, path| Ok(go_module_name(text, path))),
        Language::C => return Ok(None),
    };
    match read(file)? {
        Some((text, path)) => parse(&text, &path),
        None => Ok(None),
    }
}

/// `name` of a `package.json`, without its npm scope.
fn npm_name(text: &str, path: &str) -> anyhow::Result<Found> {
    let json: serde_json::Value = serde_json::from_str(text).with_context(|| format!("{path} is not valid JSON"))?;
    let name = json["name"].as_str().map(|n| n.rsplit('/').next().unwrap_or(n).to_owned());
    Ok(name.map(|n| (n, format!("{path}: `name`"))))
}

/// `table.name` of a TOML manifest, if it has one.
fn toml_name(text: &str, path: &str, table: &str) -> anyhow::Result<Found> {
    let manifest: toml::Table = toml::from_str(text).with_context(|| format!("{path} is not valid TOML"))?;
    let name = manifest.get(table).and_then(|t| t.get("name")).and_then(|n| n.as_str());
    Ok(name.map(|n| (n.to_owned(), format!("{path}: `{table}.name`"))))
}

/// The last element of `go.mod`'s module path (`example.com/team/mask-pii` → `mask-pii`),
/// before a major version's (`example.com/mask/v2` → `mask`), without a comment.
fn go_module_name(text: &str, path: &str) -> Found {
    let line = text.lines().find_map(|l| l.trim().strip_prefix("module "))?;
    let module = line.split("//").next()?.trim().trim_matches('"');
    let mut elements = module.rsplit('/');
    let mut last = elements.next()?;
    let major = last.strip_prefix('v').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if major && let Some(before) = elements.next() {
        last = before;
    }
    Some((last.to_owned(), format!("{path}: `module`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_in(files: &[(&str, &str)], language: Language) -> anyhow::Result<String> {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("copy-of-project");
        std::fs::create_dir(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        of_project(&dir, language)
    }

    #[test]
    fn the_manifest_names_the_plugin_and_the_directory_only_without_one() {
        let cargo = "[package]\nname = \"mask-pii\"\nversion = \"0.1.0\"\n";
        assert_eq!(name_in(&[("Cargo.toml", cargo)], Language::Rust).unwrap(), "mask-pii");
        let npm = r#"{"name": "@team/mask-pii", "version": "1.0.0"}"#;
        assert_eq!(name_in(&[("package.json", npm)], Language::TypeScript).unwrap(), "mask-pii");
        let go = "module example.com/team/mask_pii\n\ngo 1.26\n";
        assert_eq!(name_in(&[("go.mod", go)], Language::Go).unwrap(), "mask_pii");
        let go = "module github.com/org/mask-pii/v2 // the second\n";
        assert_eq!(name_in(&[("go.mod", go)], Language::Go).unwrap(), "mask-pii");
        let python = "[project]\nname = \"mask-pii\"\n";
        assert_eq!(name_in(&[("pyproject.toml", python)], Language::Python).unwrap(), "mask-pii");
        assert_eq!(name_in(&[("app.py", "")], Language::Python).unwrap(), "copy-of-project");
        assert_eq!(name_in(&[("plugin.c", "")], Language::C).unwrap(), "copy-of-project");
        assert_eq!(name_in(&[("package.json", "{}")], Language::JavaScript).unwrap(), "copy-of-project");
    }

    #[test]
    fn a_name_that_cannot_name_a_plugin_is_refused_saying_where_it_came_from() {
        let error = name_in(&[("package.json", r#"{"name": "MaskPII"}"#)], Language::JavaScript).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("package.json: `name` names the plugin; give another with `--name`"), "{message}");
        assert!(message.contains("`MaskPII` cannot name a plugin"), "{message}");
        let error = name_in(&[("Cargo.toml", "[package\n")], Language::Rust).unwrap_err();
        assert!(format!("{error:#}").contains("Cargo.toml is not valid TOML"), "{error:#}");
    }
}
