//! The author's loop in every SDK language: `sluice plugin new` → `build` → `test
//! --expect`, the project's own native tests, a copy of a project built under its
//! manifest's name, and packages from PyPI and npm bundled into a plugin.

use std::path::Path;

use crate::harness::*;

/// `plugin new NAME --lang LANGUAGE`, `plugin build`, then `plugin test` of the result
/// against the project's own expectations; returns the project's directory.
fn author_loop(scratch: &Scratch, language: &str) -> std::path::PathBuf {
    let output =
        sluice().args(["plugin", "new", "tagger", "--lang", language, "--dir"]).arg(scratch.path("")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let project = scratch.path("tagger");
    // Rust projects share one target directory across runs, so that only the first
    // compiles their dependencies.
    let target = workspace_root().join("target/plugin-projects");
    // A compile cache of the test's own: the shared one keeps only 8 entries, which tests
    // running beside this one could push this build's out of before `plugin test` runs.
    let cache = scratch.path("user-cache");
    let started = std::time::Instant::now();
    let mut build = sluice();
    build.args(["plugin", "build"]).arg(&project).env("CARGO_TARGET_DIR", target).env("SLUICE_COMPILE_CACHE", &cache);
    let output = build.output().unwrap();
    let wall = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        stdout.starts_with(&format!("built {} ({language}, ", project.join("build/tagger.wasm").display())),
        "{stdout}"
    );
    assert!(stdout.contains("verdict: ok"), "the build is checked:\n{stdout}");
    // The time printed is the command's, in parts that add up.
    let seconds = |part: &str| -> f64 {
        let line =
            stdout.lines().find(|l| l.trim_start().starts_with(part)).unwrap_or_else(|| panic!("{part}: {stdout}"));
        line.trim_start()[part.len()..].split_whitespace().next().unwrap().parse().unwrap()
    };
    let (toolchain, compile, all) = (seconds("toolchain"), seconds("compile"), seconds("in all"));
    assert!(
        toolchain + compile <= all + 0.15 && all <= wall + 0.05 && wall - all < 2.0,
        "{wall:.1} s in all:\n{stdout}"
    );

    let log = passes_its_tests_with(&project.join("build/tagger.wasm"), &project, Some(&cache));
    assert!(log.contains("origin=Cache"), "`plugin test` loads what `plugin build` compiled:\n{log}");
    project
}

/// `sluice plugin test WASM` with the project's `tests/input.jsonl` and
/// `tests/expected.jsonl` passes.
fn passes_its_tests(wasm: &Path, project: &Path) {
    passes_its_tests_with(wasm, project, None);
}

/// [`passes_its_tests`] with `cache` as the user's compile cache, if given; returns the log.
fn passes_its_tests_with(wasm: &Path, project: &Path, cache: Option<&Path>) -> String {
    let tests = project.join("tests");
    let mut command = sluice();
    if let Some(cache) = cache {
        command.env("SLUICE_COMPILE_CACHE", cache);
    }
    let output = command
        .args(["plugin", "test"])
        .arg(wasm)
        .arg("--input")
        .arg(tests.join("input.jsonl"))
        .arg("--expect")
        .arg(tests.join("expected.jsonl"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let expects = format!(" records as {} expects\n", tests.join("expected.jsonl").display());
    assert!(stdout.starts_with("ok: ") && stdout.ends_with(&expects), "{stdout}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_author_loop_works_in_rust() {
    let scratch = Scratch::with_plugins(&[]);
    let project = author_loop(&scratch, "rust");
    // The project's own unit test, natively.
    let status = std::process::Command::new("cargo")
        .args(["test", "--quiet"])
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", workspace_root().join("target/plugin-projects"))
        .status()
        .unwrap();
    assert!(status.success(), "cargo test in the new project");

    // A copy of the project in another directory builds the plugin its Cargo.toml names,
    // or the one `--name` gives.
    let copy = scratch.path("copy-of-tagger");
    assert!(std::process::Command::new("cp").arg("-r").arg(&project).arg(&copy).status().unwrap().success());
    for (name, file) in [(None, "tagger.wasm"), (Some("tagger-two"), "tagger-two.wasm")] {
        let mut build = sluice();
        build
            .args(["plugin", "build"])
            .arg(&copy)
            .env("CARGO_TARGET_DIR", workspace_root().join("target/plugin-projects"));
        let output = build.args(name.map(|n| ["--name", n]).iter().flatten()).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with(&format!("built {}", copy.join("build").join(file).display())), "{stdout}");
    }
}

#[test]
fn the_author_loop_works_in_python() {
    let scratch = Scratch::with_plugins(&[]);
    let project = author_loop(&scratch, "python");
    assert!(pytest(&project), "pytest in the new project");
}

/// Whether the project's own unit tests pass, natively, with the pinned pytest.
pub fn pytest(project: &Path) -> bool {
    let status = std::process::Command::new(python_toolchain())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(project)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .status()
        .unwrap();
    status.success()
}

#[test]
fn the_author_loop_works_in_javascript() {
    let scratch = Scratch::with_plugins(&[]);
    let project = author_loop(&scratch, "js");
    npm_test(&project);
}

#[test]
fn the_author_loop_works_in_typescript() {
    let scratch = Scratch::with_plugins(&[]);
    let project = author_loop(&scratch, "ts");
    assert!(project.join(".sluice/build/src/index.js").is_file(), "the build compiled the TypeScript with tsc");
    npm_test(&project);
}

#[test]
fn the_author_loop_works_in_c() {
    let scratch = Scratch::with_plugins(&[]);
    let project = author_loop(&scratch, "c");
    // The project's own unit test, natively, under the sanitizers.
    let output = std::process::Command::new("make").args(["--silent", "test"]).current_dir(&project).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "make test in the new project: {stderr}");
    assert!(stderr.ends_with(" checks, 0 failed\n"), "{stderr}");
}

#[test]
fn the_author_loop_works_in_go() {
    let scratch = Scratch::with_plugins(&[]);
    let project = author_loop(&scratch, "go");
    // The project's own unit test, natively, offline.
    let output = std::process::Command::new("go")
        .args(["test", "./..."])
        .current_dir(&project)
        .env("GOPROXY", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "go test in the new project: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("ok  \ttagger\t"), "{stdout}");
}

/// The project's own unit tests, natively: `npm test` (node --test, after tsc for
/// TypeScript).
fn npm_test(project: &Path) {
    let output = std::process::Command::new("npm").args(["test", "--silent"]).current_dir(project).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "npm test in the new project: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("# pass 1\n") && stdout.contains("# fail 0\n"), "{stdout}");
}

/// The Python of the pinned toolchain that `scripts/setup --plugin-toolchains` installs.
fn python_toolchain() -> std::path::PathBuf {
    let pins: toml::Table =
        toml::from_str(&std::fs::read_to_string(workspace_root().join("sdk/toolchains.toml")).unwrap()).unwrap();
    let version = pins["python"]["componentize-py"].as_str().unwrap();
    let home = std::env::var("HOME").unwrap();
    let root = std::env::var("SLUICE_TOOLCHAINS").unwrap_or(format!("{home}/.cache/sluice/toolchains"));
    Path::new(&root).join(format!("python-{version}/bin/python"))
}

#[test]
fn a_python_plugin_bundles_a_package_from_pypi() {
    let scratch = Scratch::with_plugins(&[]);
    let example = workspace_root().join("examples/plugins/human-sizes");
    let output = sluice().args(["plugin", "build"]).arg(&example).arg("--out").arg(scratch.path("")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    passes_its_tests(&scratch.path("human-sizes.wasm"), &example);
}

#[test]
fn a_typescript_plugin_bundles_a_package_from_npm() {
    let scratch = Scratch::with_plugins(&[]);
    let example = workspace_root().join("examples/plugins/human-sizes-ts");
    let output = sluice().args(["plugin", "build"]).arg(&example).arg("--out").arg(scratch.path("")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let bundle = std::fs::read_to_string(example.join(".sluice/build/plugin.js")).unwrap();
    assert!(bundle.contains("node_modules/pretty-bytes/"), "the package is bundled into the module");
    passes_its_tests(&scratch.path("human-sizes-ts.wasm"), &example);
}
