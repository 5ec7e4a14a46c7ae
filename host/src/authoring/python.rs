//! Building Python plugin projects: `app.py`, the SDK, and the pure-Python packages of
//! `requirements.txt`, made a component by componentize-py. The build
//!
//! 1. compiles every `.py` file of the project with the toolchain's own Python (the one
//!    the project's native tests run on), which finds a syntax error in well under a
//!    second and names the project's file, where componentize-py takes some 20 s to
//!    report it from inside the component;
//! 2. installs the packages `requirements.txt` lists into `.sluice/site-packages`;
//! 3. runs componentize-py over an entry module written into `.sluice/entry`, which imports
//!    every module of those packages and then `app`. componentize-py bundles exactly the
//!    modules imported while it builds (its snapshot of the interpreter), so a package that
//!    imports a module only for some inputs (`python-slugify` imports `text_unidecode` for
//!    non-ASCII text) would fail on those records at run time. Modules that cannot be
//!    imported inside a component are listed after the build, as warnings.
//!
//! componentize-py's messages name files by where it mounts each Python path (`/0/app.py`);
//! a failure is shown as its Python traceback, with those names made the project's, and
//! without componentize-py's own Rust backtrace.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::build::run;
use super::{sdk, toolchain};

/// The entry module componentize-py builds from, and where it is written.
const ENTRY: &str = "sluice_entry";
const ENTRY_DIR: &str = "entry";
/// What the entry module writes, during the build, about the modules it could not import.
const NOT_BUNDLED: &str = "not-bundled.txt";

/// Builds the Python project in `dir` into the component `into`.
pub fn build(dir: &Path, into: &Path) -> anyhow::Result<()> {
    let tools = toolchain::python()?;
    check_syntax(dir, &tools)?;
    let sluice = dir.join(sdk::DIR);
    // In the order componentize-py mounts them: `/0` is the project.
    let mut paths = vec![dir.to_path_buf(), sluice.join("sdk/python")];
    let site = requirements(dir, &tools)?;
    let modules = site.as_deref().map(modules_of).transpose()?.unwrap_or_default();
    if let Some(site) = site {
        paths.push(site);
    }
    let entry = sluice.join(ENTRY_DIR);
    std::fs::create_dir_all(&entry).with_context(|| format!("cannot create {}", entry.display()))?;
    std::fs::write(entry.join(format!("{ENTRY}.py")), entry_module(&modules))?;
    let _ = std::fs::remove_file(entry.join(NOT_BUNDLED));
    paths.push(entry.clone());

    let mut command = Command::new(&tools.componentize_py);
    // No Rust backtrace in its failures: they are the user's Python errors, not its bugs.
    command.current_dir(dir).env_remove("VIRTUAL_ENV").env("PYTHONDONTWRITEBYTECODE", "1").env("RUST_BACKTRACE", "0");
    command.arg("--quiet").arg("--wit-path").arg(sluice.join("wit")).args(["--world", "plugin", "componentize", ENTRY]);
    for path in &paths {
        command.arg("--python-path").arg(path);
    }
    let output = command.arg("--output").arg(into).output().context("cannot start componentize-py")?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr) + String::from_utf8_lossy(&output.stdout);
        anyhow::bail!("componentize-py failed ({}):\n{}", output.status, explain(&text, &paths));
    }
    let not_bundled = std::fs::read_to_string(entry.join(NOT_BUNDLED)).unwrap_or_default();
    let not_bundled: Vec<&str> = not_bundled.lines().filter(|l| !l.is_empty()).collect();
    if !not_bundled.is_empty() {
        eprintln!(
            "warning: {} module(s) of the packages in requirements.txt cannot be imported in a component and were left out; a record that needs one fails:",
            not_bundled.len()
        );
        for line in not_bundled {
            eprintln!("  {}", project_paths(line, &paths));
        }
    }
    Ok(())
}

/// Compiles every `.py` file of the project (not `.sluice/`, `build/` or hidden
/// directories) with the toolchain's Python, writing no bytecode.
fn check_syntax(dir: &Path, tools: &toolchain::Python) -> anyhow::Result<()> {
    let mut files = Vec::new();
    python_files(dir, &mut files)?;
    // `compile` rather than `py_compile`, which writes `__pycache__`; one line a file.
    // A NUL byte in a source is a ValueError, not a SyntaxError, on Python 3.11.
    let script = "import sys\nfor path in sys.argv[1:]:\n    with open(path, 'rb') as f:\n        source = f.read()\n    try:\n        compile(source, path, 'exec', dont_inherit=True)\n    except SyntaxError as e:\n        where = f'{e.filename or path}, line {e.lineno}' + (f', column {e.offset}' if e.offset else '')\n        text = (e.text or '').rstrip()\n        print(f'{where}: {type(e).__name__}: {e.msg}' + (f'\\n    {text}' if text else ''), file=sys.stderr)\n        sys.exit(1)\n    except ValueError as e:\n        print(f'{path}: {type(e).__name__}: {e}', file=sys.stderr)\n        sys.exit(1)\n";
    let output = Command::new(&tools.python)
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-I", "-c", script])
        .args(&files)
        .output()
        .context("cannot start the toolchain's Python")?;
    if !output.status.success() {
        let version = Command::new(&tools.python).arg("--version").output().ok();
        let version = version.map(|v| String::from_utf8_lossy(&v.stdout).trim().to_owned()).unwrap_or_default();
        anyhow::bail!(
            "{}\n(checked with {version}, which the project's native tests run on, before building)",
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(())
}

/// The `.py` files under `dir`: the project's own, so not what the build owns, hidden
/// directories, virtual environments or installed packages; links are not followed.
fn python_files(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let Ok(kind) = path.symlink_metadata().map(|m| m.file_type()) else { continue };
        if kind.is_dir() {
            let skipped = name.starts_with('.')
                || matches!(name, "build" | "__pycache__" | "node_modules" | "site-packages")
                || path.join("pyvenv.cfg").exists();
            if !skipped {
                python_files(&path, files)?;
            }
        } else if kind.is_file() && name.ends_with(".py") {
            files.push(path);
        }
    }
    Ok(())
}

/// Installs the packages `requirements.txt` lists into `.sluice/site-packages`, unless
/// they are there from the same list already; `None` if it lists none.
fn requirements(dir: &Path, tools: &toolchain::Python) -> anyhow::Result<Option<PathBuf>> {
    let Ok(list) = std::fs::read_to_string(dir.join("requirements.txt")) else { return Ok(None) };
    if list.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Ok(None);
    }
    let site = dir.join(sdk::DIR).join("site-packages");
    let stamp = site.join(".sluice-requirements.txt");
    if std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == list) {
        return Ok(Some(site));
    }
    if site.exists() {
        std::fs::remove_dir_all(&site).with_context(|| format!("cannot clear {}", site.display()))?;
    }
    let mut pip = Command::new(&tools.python);
    pip.current_dir(dir).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"]);
    run(pip.arg(&site).args(["--requirement", "requirements.txt"]), "pip install -r requirements.txt")?;
    std::fs::write(&stamp, list)?;
    Ok(Some(site))
}

/// Every Python module in `site`, as the dotted names `import` takes, in order: its
/// top-level modules, and every module of its packages, namespace packages included.
/// Not the packages' tests, nor `__main__` modules (importing one runs a command line).
fn modules_of(site: &Path) -> anyhow::Result<Vec<String>> {
    fn walk(dir: &Path, prefix: &str, modules: &mut Vec<String>) -> anyhow::Result<()> {
        let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        let mut entries: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            let Some(file) = path.file_name().and_then(|n| n.to_str()) else { continue };
            // Links are not followed: a loop of them would never end.
            let Ok(kind) = path.symlink_metadata().map(|m| m.file_type()) else { continue };
            let (stem, is_dir) = match (kind.is_dir(), file.strip_suffix(".py")) {
                (true, _) => (file, true),
                (false, Some(stem)) if kind.is_file() => (stem, false),
                _ => continue,
            };
            // ASCII identifiers only, which the entry module spells as they are.
            let identifier = stem.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !identifier || matches!(stem, "__main__" | "__init__" | "tests" | "test" | "conftest" | "setup") {
                continue;
            }
            let name = if prefix.is_empty() { stem.to_owned() } else { format!("{prefix}.{stem}") };
            if is_dir {
                let mut inner = Vec::new();
                walk(&path, &name, &mut inner)?;
                // A directory is a package if it has `__init__.py` or any module.
                if path.join("__init__.py").is_file() || !inner.is_empty() {
                    modules.push(name);
                    modules.extend(inner);
                }
            } else {
                modules.push(name);
            }
        }
        Ok(())
    }
    let mut modules = Vec::new();
    walk(site, "", &mut modules)?;
    Ok(modules)
}

/// The entry module: imports `modules` (noting those that fail), then the plugin.
fn entry_module(modules: &[String]) -> String {
    let list: String = modules.iter().map(|m| format!("    {m:?},\n")).collect();
    format!(
        r#""""Written by `sluice plugin build`; rewritten at every build.

componentize-py bundles the modules imported while it builds the component, and no
other: this imports every module of the packages in requirements.txt, then the plugin."""

import importlib as _importlib
import os as _os

_failed = []
for _name in [
{list}]:
    try:
        _importlib.import_module(_name)
    except BaseException as _error:
        _message = " ".join(str(_error).split())
        _failed.append(f"{{_name}}: {{type(_error).__name__}}: {{_message}}")
with open(_os.path.join(_os.path.dirname(__file__), "{NOT_BUNDLED}"), "w") as _report:
    _report.write("\n".join(_failed))

from app import Transform  # noqa: E402,F401
"#
    )
}

/// What componentize-py printed, made readable: the Python traceback of a failure while
/// building (without the traceback of componentize-py's own command line around it), with
/// the files it names made the project's.
fn explain(output: &str, paths: &[PathBuf]) -> String {
    let inner = output.find("AssertionError: Traceback").map(|at| &output[at + "AssertionError: ".len()..]);
    let text = match inner {
        Some(inner) => inner.split("\n\nCaused by:").next().unwrap_or(inner).trim_end(),
        None => output.trim_end(),
    };
    // The entry module's frame (its `from app import Transform`) is the build's, not the
    // author's: a frame is its `File` line and the indented lines under it.
    let mut lines = Vec::new();
    let mut in_entry = false;
    for line in text.lines() {
        if line.starts_with("  File ") {
            in_entry = line.contains(&format!("/{ENTRY}.py\""));
        } else if !line.starts_with("    ") {
            in_entry = false;
        }
        if !in_entry {
            lines.push(line);
        }
    }
    project_paths(&lines.join("\n"), paths)
}

/// `text` with componentize-py's mount points (`/0/app.py`) replaced by the directories
/// mounted there (`/home/me/tagger/app.py`).
fn project_paths(text: &str, paths: &[PathBuf]) -> String {
    let mut text = text.to_owned();
    for (index, path) in paths.iter().enumerate() {
        text = text.replace(&format!("\"/{index}/"), &format!("\"{}/", path.display()));
        text = text.replace(&format!(" /{index}/"), &format!(" {}/", path.display()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_of_the_installed_packages_is_listed_but_tests_and_command_lines() {
        let site = tempfile::tempdir().unwrap();
        for file in [
            "slugify/__init__.py",
            "slugify/__main__.py",
            "slugify/special.py",
            "slugify/tests/test_x.py",
            "text_unidecode/__init__.py",
            "namespace/inner/module.py",
            "six.py",
            "python_slugify-9.1.3.dist-info/RECORD",
            "bin/slugify",
            "native/_speedups.cpython-311-x86_64-linux-gnu.so",
        ] {
            let path = site.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        std::os::unix::fs::symlink(site.path(), site.path().join("namespace/loop")).unwrap();
        std::fs::write(site.path().join("caf\u{e9}.py"), "").unwrap();
        assert_eq!(
            modules_of(site.path()).unwrap(),
            [
                "namespace",
                "namespace.inner",
                "namespace.inner.module",
                "six",
                "slugify",
                "slugify.special",
                "text_unidecode"
            ]
        );
    }

    #[test]
    fn the_syntax_check_reads_the_projects_own_files_only() {
        let project = tempfile::tempdir().unwrap();
        for file in ["app.py", "lib/helpers.py", "venv/lib/x.py", "site-packages/y.py", ".sluice/z.py", "build/w.py"] {
            let path = project.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        std::fs::write(project.path().join("venv/pyvenv.cfg"), "").unwrap();
        std::os::unix::fs::symlink(project.path(), project.path().join("lib/loop")).unwrap();
        let mut files = Vec::new();
        python_files(project.path(), &mut files).unwrap();
        assert_eq!(files, [project.path().join("app.py"), project.path().join("lib/helpers.py")]);
    }

    #[test]
    fn a_build_failure_is_the_python_traceback_naming_the_projects_files() {
        let output = "Traceback (most recent call last):\n  File \"/venv/bin/componentize-py\", line 8, in <module>\n    sys.exit(script())\nAssertionError: Traceback (most recent call last):\n  File \"/3/sluice_entry.py\", line 25, in <module>\n    from app import Transform  # noqa: E402,F401\n    ^^^^^^^^^^^^^^^^^^^^^^^^^\n  File \"/0/app.py\", line 3, in <module>\n    import nonexistent\nModuleNotFoundError: No module named 'nonexistent'\n\n\nCaused by:\n    ModuleNotFoundError: No module named 'nonexistent'\n";
        let paths = [PathBuf::from("/home/me/tagger"), PathBuf::from("/home/me/tagger/.sluice/sdk/python")];
        assert_eq!(
            explain(output, &paths),
            "Traceback (most recent call last):\n  File \"/home/me/tagger/app.py\", line 3, in <module>\n    import nonexistent\nModuleNotFoundError: No module named 'nonexistent'"
        );
    }
}
