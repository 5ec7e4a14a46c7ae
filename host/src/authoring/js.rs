//! Building JavaScript and TypeScript plugin projects. A project is an npm package whose
//! `src/index.js` (or `src/index.ts`) exports `transform`; the build
//!
//! 1. installs its npm dependencies (`npm install`, when `package.json` or its lock file
//!    changed since the last install), the SDK among them as a `file:` dependency on
//!    `.sluice/sdk/js`;
//! 2. for TypeScript, type-checks and compiles it with the project's own `tsc` (a
//!    devDependency), into `.sluice/build/`;
//! 3. bundles the module, its packages and the SDK into one ES module with esbuild,
//!    through an entry module that connects the SDK to the host imports the way the
//!    engine names them;
//! 4. turns the bundle into a component with the engine's componentize tool.
//!
//! The engine is StarlingMonkey (SpiderMonkey, through componentize-js) unless the
//! project's `package.json` says `"sluice": { "engine": "quickjs" }`: StarlingMonkey runs
//! a JSON transform about twice as fast (its JSON, text decoding and garbage collector
//! are native and tuned); QuickJS makes a component a seventh of the size that compiles
//! in a tenth of the time and needs far less memory (BENCHMARKS.md).

use std::path::Path;
use std::process::Command;

use anyhow::Context;
use serde_json::Value;

use super::build::run;
use super::{Language, sdk, toolchain};

/// The JavaScript engine a component embeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    StarlingMonkey,
    QuickJs,
}

impl Engine {
    const NAMES: [(&'static str, Engine); 2] =
        [("starlingmonkey", Engine::StarlingMonkey), ("quickjs", Engine::QuickJs)];

    /// The engine `package.json` (at `path`) asks for under `sluice.engine`.
    fn of(package: &Value, path: &Path) -> anyhow::Result<Engine> {
        let Some(setting) = package.get("sluice").and_then(|s| s.get("engine")) else {
            return Ok(Engine::StarlingMonkey);
        };
        let found = setting.as_str().and_then(|name| Engine::NAMES.iter().find(|(n, _)| *n == name));
        match found {
            Some((_, engine)) => Ok(*engine),
            None => anyhow::bail!(
                "{}: `sluice.engine` is {setting}, expected one of {}",
                path.display(),
                Engine::NAMES.map(|(n, _)| format!("\"{n}\"")).join(", ")
            ),
        }
    }

    /// The entry module of the bundle: connects the SDK to the `host` imports and
    /// re-exports the plugin's `transform` from `module` (relative to `.sluice/`).
    /// componentize-js gives the imports as named functions taking a u64 as a `bigint`;
    /// componentize-qjs as a default-exported object taking it as a `number`.
    fn entry(self, module: &str) -> String {
        let connect = match self {
            Engine::StarlingMonkey => "import * as host from \"sluice:plugin/host@0.1.0\";\n\
                 connectHost(host);\n"
                .to_owned(),
            Engine::QuickJs => "import host from \"sluice:plugin/host@0.1.0\";\n\
                 connectHost({\n  log: host.log,\n  counterAdd: (name, delta) => host.counterAdd(name, Number(delta)),\n  \
                 gaugeSet: host.gaugeSet,\n});\n"
                .to_owned(),
        };
        format!(
            "// Written by `sluice plugin build`: the module the component is built from.\n\
             import {{ connectHost }} from \"sluice-sdk\";\n{connect}export {{ transform }} from \"{module}\";\n"
        )
    }

    /// The command that turns `bundle` into the component `into`.
    fn componentize(self, tools: &toolchain::Js, bundle: &Path, wit: &Path, into: &Path) -> Command {
        let mut command;
        match self {
            Engine::StarlingMonkey => {
                command = Command::new(tools.tool("componentize-js"));
                // Without these it imports wasi:http, which plugins are not given.
                command.arg(bundle).args(["-d", "http", "-d", "fetch-event"]);
            }
            Engine::QuickJs => {
                command = Command::new(tools.tool("componentize-qjs"));
                // Without --sync it exports the async ABI, which the host refuses.
                command.arg("--sync").arg("--js").arg(bundle);
            }
        }
        command.arg("--wit").arg(wit).args(["-n", "plugin", "-o"]).arg(into);
        command
    }

    fn tool(self) -> &'static str {
        match self {
            Engine::StarlingMonkey => "componentize-js",
            Engine::QuickJs => "componentize-qjs",
        }
    }
}

/// Builds the JavaScript or TypeScript project in `dir` into the component `into`.
pub fn build(dir: &Path, language: Language, into: &Path) -> anyhow::Result<()> {
    let tools = toolchain::js()?;
    let path = dir.join("package.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let package: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    let engine = Engine::of(&package, &path)?;
    install(dir)?;

    let sluice = dir.join(sdk::DIR);
    let module = match language {
        Language::TypeScript => {
            let tsc = dir.join("node_modules/.bin/tsc");
            anyhow::ensure!(
                tsc.is_file(),
                "{}: a TypeScript project compiles with its own tsc: add `typescript` to its devDependencies",
                path.display()
            );
            let mut command = Command::new(tsc);
            // Its diagnostics are the build's error messages: on stderr, as a build's are.
            command.current_dir(dir).stdout(std::io::stderr()).args([
                "--project",
                "tsconfig.json",
                "--rootDir",
                ".",
                "--outDir",
            ]);
            // With source maps, which esbuild follows into the bundle's map.
            run(command.arg(sluice.join("build")).arg("--sourceMap"), "tsc")?;
            "./build/src/index.js"
        }
        _ => "../src/index.js",
    };
    let entry = sluice.join("entry.js");
    std::fs::write(&entry, engine.entry(module)).with_context(|| format!("cannot write {}", entry.display()))?;

    let bundle = sluice.join("build/plugin.js");
    let mut esbuild = Command::new(tools.tool("esbuild"));
    esbuild.current_dir(dir).arg(&entry).args([
        "--bundle",
        "--format=esm",
        "--platform=neutral",
        "--main-fields=module,main",
        "--external:sluice:*",
        "--log-level=warning",
        "--sourcemap=external",
        "--sources-content=false",
    ]);
    run(esbuild.arg(format!("--outfile={}", bundle.display())), "esbuild")?;
    append_source_map(dir, &bundle)?;
    // Quiet unless it fails: its output is a page of sizes and paths on success.
    let mut componentize = engine.componentize(&tools, &bundle, &sluice.join("wit"), into);
    let output = componentize.current_dir(dir).output().with_context(|| format!("cannot start {}", engine.tool()))?;
    if !output.status.success() {
        let mut said = String::from_utf8_lossy(&output.stderr).into_owned();
        said.push_str(&String::from_utf8_lossy(&output.stdout));
        anyhow::bail!("{} failed ({}):\n{}", engine.tool(), output.status, said.trim_end());
    }
    Ok(())
}

/// Appends the bundle's source map to it, as the global the SDK maps stack frames with
/// (`sdk/js/src/sourcemap.js`), its sources named from the project's directory
/// (`src/index.ts`). At the end, so that no line of the bundle moves.
fn append_source_map(dir: &Path, bundle: &Path) -> anyhow::Result<()> {
    let path = bundle.with_extension("js.map");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut map: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let from = bundle.parent().and_then(|b| b.strip_prefix(dir).ok()).unwrap_or(Path::new(""));
    let sources: Vec<Value> = map["sources"]
        .as_array()
        .map(|sources| {
            sources.iter().map(|s| Value::from(project_relative(from, s.as_str().unwrap_or_default()))).collect()
        })
        .unwrap_or_default();
    map["sources"] = Value::from(sources);
    map["file"] = Value::from(bundle.file_name().and_then(|n| n.to_str()).unwrap_or_default());
    let mut file = std::fs::OpenOptions::new().append(true).open(bundle)?;
    use std::io::Write;
    writeln!(file, "\nglobalThis.__sluiceSourceMap = {map};")?;
    Ok(())
}

/// `source`, relative to the directory `from` (itself relative to the project), as a
/// path relative to the project: `../../src/index.ts` from `.sluice/build` is
/// `src/index.ts`.
fn project_relative(from: &Path, source: &str) -> String {
    let mut parts: Vec<&str> = from.iter().filter_map(|p| p.to_str()).collect();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." if !parts.is_empty() && parts.last() != Some(&"..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Runs `npm install` in `dir` unless its `node_modules` is there from the same
/// `package.json` and lock file already.
fn install(dir: &Path) -> anyhow::Result<()> {
    let stamp = dir.join(sdk::DIR).join("npm-installed");
    let state = || {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        format!("{}\n{}", read("package.json"), read("package-lock.json"))
    };
    if dir.join("node_modules").is_dir() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == state()) {
        return Ok(());
    }
    let mut npm = Command::new("npm");
    // What it says goes to stderr: stdout is the build's own report.
    npm.current_dir(dir).stdout(std::io::stderr()).args(["install", "--no-audit", "--no-fund", "--loglevel=error"]);
    run(&mut npm, "npm install").context("JavaScript plugins build with Node.js and npm (https://nodejs.org)")?;
    std::fs::write(&stamp, state()).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_map_sources_are_named_from_the_project() {
        let from = Path::new(".sluice/build");
        assert_eq!(project_relative(from, "../../src/index.ts"), "src/index.ts");
        assert_eq!(project_relative(from, "../sdk/js/src/plugin.js"), ".sluice/sdk/js/src/plugin.js");
        assert_eq!(project_relative(from, "../../node_modules/a/b.js"), "node_modules/a/b.js");
        assert_eq!(project_relative(from, "../../../elsewhere.js"), "../elsewhere.js");
    }

    #[test]
    fn the_engine_is_starlingmonkey_unless_the_package_says_otherwise() {
        let path = Path::new("p/package.json");
        let of = |json: &str| Engine::of(&serde_json::from_str(json).unwrap(), path);
        assert_eq!(of("{}").unwrap(), Engine::StarlingMonkey);
        assert_eq!(of(r#"{"sluice":{"engine":"quickjs"}}"#).unwrap(), Engine::QuickJs);
        assert_eq!(of(r#"{"sluice":{"engine":"starlingmonkey"}}"#).unwrap(), Engine::StarlingMonkey);
        let err = of(r#"{"sluice":{"engine":"v8"}}"#).unwrap_err().to_string();
        assert_eq!(err, r#"p/package.json: `sluice.engine` is "v8", expected one of "starlingmonkey", "quickjs""#);
    }
}
