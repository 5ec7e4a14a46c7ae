//! Errors as a first-time author meets them: a Python package from PyPI that imports a
//! module only for some inputs, the project's native tests with that package, and errors
//! that name the project's own files, at build time and at run time, in Python and in
//! TypeScript (whose plugin runs as one bundled file).

use std::path::PathBuf;

use crate::author_loop::pytest;
use crate::harness::*;

/// `plugin new NAME --lang python` with `app.py` (and `extra` files) replaced.
fn project(scratch: &Scratch, name: &str, app: &str, extra: &[(&str, &str)]) -> PathBuf {
    let output =
        sluice().args(["plugin", "new", name, "--lang", "python", "--dir"]).arg(scratch.path("")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    scratch.write(&format!("{name}/app.py"), app);
    for (file, text) in extra {
        scratch.write(&format!("{name}/{file}"), text);
    }
    scratch.path(name)
}

fn build(project: &std::path::Path) -> std::process::Output {
    sluice().args(["plugin", "build"]).arg(project).output().unwrap()
}

/// What `plugin test` of `wasm` over `input` printed.
fn plugin_test(wasm: &std::path::Path, input: &std::path::Path) -> String {
    let output = sluice().args(["plugin", "test"]).arg(wasm).arg("--input").arg(input).output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const SLUGGER: &str = r#"import slugify
import sluice_sdk as sluice


class Slug(sluice.Plugin):
    def process(self, record, out):
        text = record.value_str()
        if text == "boom":
            raise ValueError("no slug for boom")
        out.emit_value(slugify.slugify(text))


Transform = sluice.export(Slug)
"#;

const SLUGGER_TEST: &str = r#"from app import Slug
from sluice_sdk.testing import TestRecord, run


def test_slugs_non_ascii_text():
    [outputs] = run(Slug, {}, [TestRecord("Inscripción abierta")])
    assert outputs[0].value_str() == "inscripcion-abierta"
"#;

/// `python-slugify` imports `text_unidecode` only for text that is not ASCII: the build
/// bundles it anyway, the project's native tests see the package, and a record the plugin
/// fails on names the line of `app.py`, as the author knows the file.
#[test]
fn a_package_that_imports_lazily_is_bundled_whole_and_native_tests_see_it() {
    let scratch = Scratch::with_plugins(&[]);
    let requirements = "python-slugify==9.1.3\n";
    let files = [("requirements.txt", requirements), ("test_app.py", SLUGGER_TEST)];
    let project = project(&scratch, "slugger", SLUGGER, &files);
    let output = build(&project);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let input = scratch.write("input.txt", "Inscripción abierta\nhello world\nboom\n");
    let stdout = plugin_test(&project.join("build/slugger.wasm"), &input);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["outputs"][0]["value"], "inscripcion-abierta", "{stdout}");
    assert_eq!(lines[1]["outputs"][0]["value"], "hello-world", "{stdout}");
    let reason = lines[2]["rejected"].as_str().unwrap_or_default();
    assert!(reason.ends_with("ValueError: no slug for boom (at app.py:9)"), "{stdout}");

    assert!(pytest(&project), "pytest in the project, with its requirement");
}

/// A syntax error is found by the toolchain's Python before componentize-py starts (it
/// took some 20 s to report one from inside the component), naming the project's file.
#[test]
fn a_syntax_error_fails_the_build_at_once_naming_the_projects_file() {
    let scratch = Scratch::with_plugins(&[]);
    let project = project(&scratch, "typo", SLUGGER, &[("helpers.py", "def slug(:\n    pass\n")]);
    let started = std::time::Instant::now();
    let output = build(&project);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    let at = format!(
        "error: {}, line 1, column 10: SyntaxError: invalid syntax\n    def slug(:\n",
        project.join("helpers.py").display()
    );
    assert!(stderr.starts_with(&at), "{stderr}");
    assert!(!stderr.contains("componentize-py"), "componentize-py did not run:\n{stderr}");
    eprintln!("a syntax error, reported in {took:.1?}");
}

/// A failure while componentize-py imports the plugin is the Python traceback, naming
/// the project's files, without componentize-py's own frames or its Rust backtrace (which
/// `RUST_BACKTRACE=1`, as set here, would add).
#[test]
fn an_import_error_while_building_is_the_python_traceback_naming_the_projects_file() {
    let scratch = Scratch::with_plugins(&[]);
    let project = project(&scratch, "missing", &format!("import not_installed\n{SLUGGER}"), &[]);
    let output = sluice().args(["plugin", "build"]).arg(&project).env("RUST_BACKTRACE", "1").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    let expected = format!(
        "error: componentize-py failed (exit status: 1):\nTraceback (most recent call last):\n  File \"{}\", line 1, in <module>\n    import not_installed\nModuleNotFoundError: No module named 'not_installed'\n",
        project.join("app.py").display()
    );
    assert_eq!(stderr, expected);
}

/// A TypeScript plugin runs as one bundle (`.sluice/build/plugin.js`); the reason of a
/// record it throws on names the line and column of `src/index.ts`, on both engines.
#[test]
fn a_typescript_reason_names_the_line_of_the_source_not_of_the_bundle() {
    let scratch = Scratch::with_plugins(&[]);
    let output =
        sluice().args(["plugin", "new", "kaboom", "--lang", "ts", "--dir"]).arg(scratch.path("")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let source = scratch.path("kaboom/src/index.ts");
    let text = std::fs::read_to_string(&source).unwrap();
    let at = "    if (fields.level === \"debug\") return; // dropped: no output\n";
    assert!(text.contains(at), "{text}");
    let text = text.replace(at, &format!("{at}    if (fields.level === \"boom\") throw new Error(\"kaboom\");\n"));
    let line = text.lines().position(|l| l.contains("throw new Error(\"kaboom\")")).unwrap() + 1;
    std::fs::write(&source, text).unwrap();
    let input = scratch.write("input.jsonl", "{\"level\":\"info\"}\n{\"level\":\"boom\"}\n");
    for engine in ["starlingmonkey", "quickjs"] {
        let package = scratch.path("kaboom/package.json");
        let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&package).unwrap()).unwrap();
        json["sluice"] = serde_json::json!({ "engine": engine });
        std::fs::write(&package, json.to_string()).unwrap();
        let output = build(&scratch.path("kaboom"));
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = plugin_test(&scratch.path("kaboom/build/kaboom.wasm"), &input);
        let reason = stdout.lines().nth(1).unwrap_or_default();
        assert!(reason.contains(&format!("Error: kaboom (at process (src/index.ts:{line}:")), "{engine}: {stdout}");
    }
}

/// A module of an installed package that cannot be imported inside a component is left
/// out, and named once, on one line, in a warning after the build, which goes on.
#[test]
fn a_module_that_cannot_be_bundled_is_named_in_a_warning() {
    let scratch = Scratch::with_plugins(&[]);
    let app = "import fake\nimport sluice_sdk as sluice\n\n\nclass Keep(sluice.Plugin):\n    pass\n\n\nTransform = sluice.export(Keep)\n";
    let project = project(&scratch, "partial", app, &[("requirements.txt", "fake==1.0\n")]);
    // What pip installed for that list (the build installs nothing when the stamp says it
    // is there already): a package with a module that fails to import.
    let site = "partial/.sluice/site-packages";
    scratch.write(&format!("{site}/.sluice-requirements.txt"), "fake==1.0\n");
    scratch.write(&format!("{site}/fake/__init__.py"), "");
    scratch.write(&format!("{site}/fake/broken.py"), "raise RuntimeError('first line\\nsecond line')\n");
    let output = build(&project);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warning = "warning: 1 module(s) of the packages in requirements.txt cannot be imported in a component and were left out; a record that needs one fails:\n  fake.broken: RuntimeError: first line second line\n";
    assert!(stderr.contains(warning), "{stderr}");
}
