//! The plugin author's loop, one command set for every language:
//!
//! - `sluice plugin new NAME --lang L` writes a project that builds as is ([`new`]);
//! - `sluice plugin build [DIR]` runs the project's toolchain with the flags the host
//!   needs ([`build`]);
//! - `sluice plugin check FILE` names what the host would refuse
//!   ([`crate::plugin::inspect`]);
//! - `sluice plugin test FILE --input … [--expect …]` runs the plugin through the
//!   pipeline's own chain ([`test`]) and compares with the author's expectations
//!   ([`expect`]).
//!
//! A project's language is told by its files ([`Language::detect`]). Its SDK and the WIT
//! contract are written into its `.sluice/` from copies built into this binary ([`sdk`]),
//! so a plugin is always built against the contract of the host that built it, and a
//! project needs nothing of this repository. Toolchains are the pinned ones that
//! `scripts/setup` installs ([`toolchain`]); nothing is downloaded by the host.

pub mod build;
mod c;
pub mod expect;
mod go;
mod js;
mod name;
pub mod new;
mod python;
mod sdk;
pub mod test;
mod toolchain;

use std::fmt;
use std::path::Path;

/// A language plugins can be written in with a Sluice SDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Go,
    C,
}

impl Language {
    pub const ALL: [Language; 6] =
        [Language::Rust, Language::Python, Language::JavaScript, Language::TypeScript, Language::Go, Language::C];

    /// The language of the project in `dir`, from the file its toolchain starts from.
    pub fn detect(dir: &Path) -> anyhow::Result<Language> {
        let found: Vec<Language> = Language::ALL.into_iter().filter(|l| dir.join(l.marker()).is_file()).collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => anyhow::bail!(
                "{} is not a plugin project: it has none of {} (`sluice plugin new` writes one)",
                dir.display(),
                Language::ALL.map(|l| format!("{} ({l})", l.marker())).join(", ")
            ),
            many => anyhow::bail!(
                "{} holds projects in several languages ({}): build them from separate directories",
                dir.display(),
                many.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The file that makes a directory a project of this language.
    fn marker(self) -> &'static str {
        match self {
            Language::Rust => "Cargo.toml",
            Language::Python => "app.py",
            Language::JavaScript => "src/index.js",
            Language::TypeScript => "src/index.ts",
            Language::Go => "go.mod",
            Language::C => "plugin.c",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "js",
            Language::TypeScript => "ts",
            Language::Go => "go",
            Language::C => "c",
        })
    }
}

/// A plugin's name: what its `.wasm` file is called, and so what the host calls it.
/// Letters, digits, `-` and `_`, starting with a letter, so that it is also a valid
/// crate, package and file name in every language.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if starts_well && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
        return Ok(());
    }
    anyhow::bail!("`{name}` cannot name a plugin: use lower-case letters, digits, `-` and `_`, starting with a letter")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["a", "tag-2", "my_plugin"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "2x", "-a", "Tag", "a b", "a/b", "é"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_language_is_told_by_the_project_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = Language::detect(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "has none of Cargo.toml (rust), app.py (python), src/index.js (js), src/index.ts (ts), \
                 go.mod (go), plugin.c (c) (`sluice plugin new` writes one)"
            ),
            "{err}"
        );
        std::fs::write(dir.path().join("app.py"), "").unwrap();
        assert_eq!(Language::detect(dir.path()).unwrap(), Language::Python);
        std::fs::write(dir.path().join("Cargo.toml"), "").unwrap();
        assert!(Language::detect(dir.path()).unwrap_err().to_string().contains("several languages (rust, python)"));
    }
}
