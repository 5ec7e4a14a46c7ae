//! What every end-to-end test needs: the `sluice` binary, the example plugins built for
//! wasm32-wasip2, a scratch folder, and readers for what the sinks wrote.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// The folder of built plugins, building them first if they are missing (the test script
/// builds them beforehand; this keeps a plain `cargo test` working too).
pub fn built_plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = workspace_root().join("target/plugins");
        let wanted = ["filter", "json-validate", "misbehave", "passthrough", "router", "uppercase"];
        if !wanted.iter().all(|p| dir.join(format!("{p}.wasm")).exists()) {
            let status = Command::new(workspace_root().join("scripts/build-plugins"))
                .arg(&dir)
                .arg("--with-test-plugins")
                .status()
                .expect("run scripts/build-plugins");
            assert!(status.success(), "building the plugins failed");
        }
        dir
    })
}

/// The folder of a language's built example plugins (`plugins/<language>/NAME` built
/// into `target/plugins/<language>/NAME.wasm`), building them with `sluice plugin build`
/// if any is missing.
pub fn built_examples(language: &str) -> PathBuf {
    let dir = built_plugins().join(language);
    let sources = workspace_root().join("plugins").join(language);
    for entry in std::fs::read_dir(&sources).unwrap() {
        let source = entry.unwrap().path();
        let name = source.file_name().unwrap().to_str().unwrap().to_owned();
        if !dir.join(format!("{name}.wasm")).exists() {
            let output = sluice().args(["plugin", "build"]).arg(&source).arg("--out").arg(&dir).output().unwrap();
            assert!(
                output.status.success(),
                "building {}: {}",
                source.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    dir
}

pub fn sluice() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.env("SLUICE_LOG", "info,sluice=debug");
    // The author commands' compile cache: the tests', not the user's.
    command.env("SLUICE_COMPILE_CACHE", workspace_root().join("target/e2e-compile-cache"));
    command
}

/// Makes `command` run with the resource limit `resource` (`libc::RLIMIT_*`) at `limit`.
pub fn with_rlimit(command: &mut Command, resource: libc::__rlimit_resource_t, limit: u64) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and makes one async-signal-safe
    // call, setrlimit(2), on values already on the stack.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            match libc::setrlimit(resource, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        })
    }
}

/// A scratch folder with a plugins directory, a config and outputs.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    /// A scratch folder whose `plugins/` holds the named built plugins.
    pub fn with_plugins(plugins: &[&str]) -> Scratch {
        let scratch = Scratch { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(scratch.path("plugins")).unwrap();
        for plugin in plugins {
            scratch.install_plugin(plugin, plugin);
        }
        scratch
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Copies the built plugin `built` into `plugins/` as `name`, atomically.
    pub fn install_plugin(&self, built: &str, name: &str) {
        let tmp = self.path(&format!("plugins/.{name}.tmp"));
        std::fs::copy(built_plugins().join(format!("{built}.wasm")), &tmp).unwrap();
        std::fs::rename(tmp, self.path(&format!("plugins/{name}.wasm"))).unwrap();
    }

    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn config(&self, toml: impl AsRef<str>) -> PathBuf {
        self.write("sluice.toml", toml.as_ref())
    }

    /// `sluice run` to completion (a finite source), with a generous deadline.
    pub fn run_to_end(&self) -> Output {
        let child = self.sluice_run().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        wait_with_deadline(child, Duration::from_secs(120))
    }

    /// `sluice run` in the background, with its log captured.
    pub fn start(&self) -> Running {
        Running::spawn(self.sluice_run().stdout(Stdio::null()))
    }

    /// `sluice run` of this scratch's config. Its user's compile cache, which `run` reads
    /// through to, is the scratch's own `user-cache` (empty unless a test fills it), so
    /// that what a test's `run` compiles does not depend on the tests run before it.
    fn sluice_run(&self) -> Command {
        let mut command = sluice();
        command.args(["run", "-c"]).arg(self.path("sluice.toml"));
        command.env("SLUICE_COMPILE_CACHE", self.path("user-cache"));
        command
    }

    /// The envelopes a file sink wrote to `relative`, in order (empty if no file yet).
    pub fn read_envelopes(&self, relative: &str) -> Vec<Value> {
        read_envelopes(&self.path(relative))
    }

    /// The committed offset of the file source `name`, if any.
    pub fn committed_offset(&self, name: &str) -> Option<u64> {
        let text = std::fs::read(self.path(&format!("data/sources/{name}.position"))).ok()?;
        let position: Value = serde_json::from_slice(&text).ok()?;
        position["offset"].as_u64()
    }
}

pub fn read_envelopes(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    // A line still being written by a running host has no newline yet: leave it out.
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?} in {}: {e}", path.display())))
        .collect()
}

/// The value of an envelope as text.
pub fn value_of(envelope: &Value) -> &str {
    envelope["value"].as_str().expect("text value")
}

/// A header of an envelope.
pub fn header<'a>(envelope: &'a Value, name: &str) -> Option<&'a str> {
    envelope["headers"].as_array()?.iter().find(|h| h[0] == name).and_then(|h| h[1].as_str())
}

/// The `id` field of a JSON value, or of the invalid ones the tests write (`{"id":N,...`).
pub fn id_of(value: &str) -> u64 {
    let rest = value.split("\"id\":").nth(1).unwrap_or_else(|| panic!("no id in {value}"));
    rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// Counts of each id across the given envelopes.
pub fn id_counts<'a>(envelopes: impl IntoIterator<Item = &'a Value>) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for e in envelopes {
        *counts.entry(id_of(value_of(e))).or_default() += 1;
    }
    counts
}

pub fn wait_with_deadline(mut child: Child, deadline: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("sluice did not finish within {deadline:?}; its log:\n{}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `condition` until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A `sluice run` in the background whose log is collected as it is written.
pub struct Running {
    pub child: Child,
    log: Arc<Mutex<String>>,
}

impl Running {
    pub fn spawn(command: &mut Command) -> Running {
        let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Running { child, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `text`; the log so far is in the failure's message.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) {
        let start = Instant::now();
        while !self.log().contains(text) {
            assert!(
                start.elapsed() < timeout,
                "no log line containing {text:?} after {timeout:?}; the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Polls `condition` until it holds; the log so far is in the failure's message.
    pub fn eventually(&self, timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
        let start = Instant::now();
        while !condition() {
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for: {what}; the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for exit; returns the exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the log thread catch up with the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return status.code();
            }
            if start.elapsed() > timeout {
                self.kill();
                panic!("sluice did not exit within {timeout:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Input lines for a file source: JSON events with ids `0..n`, levels cycling through
/// info, warn and error, and every `invalid_every`-th one not valid JSON.
pub fn events(n: u64, invalid_every: u64) -> String {
    let mut text = String::new();
    for id in 0..n {
        let level = ["info", "warn", "error", "info"][(id % 4) as usize];
        if invalid_every > 0 && id % invalid_every == invalid_every - 1 {
            text.push_str(&format!("{{\"id\":{id},\"level\":\"{level}\"\n"));
        } else {
            text.push_str(&format!(
                "{{\"id\":{id},\"level\":\"{level}\",\"pad\":\"{}\"}}\n",
                "x".repeat((id % 7) as usize)
            ));
        }
    }
    text
}

pub fn level_of(id: u64) -> &'static str {
    ["info", "warn", "error", "info"][(id % 4) as usize]
}

/// A config with one pipeline, `main`, from the source `input` through `plugins` to the
/// sink `out`, with `out/dlq.jsonl` as its dead-letter sink. The other arguments are the
/// bodies of the source and `out` sink tables and extra pipeline keys.
pub fn one_pipeline(source: &str, plugins: &str, out: &str, pipeline: &str) -> String {
    format!(
        "[sources.input]\n{source}\n\n[sinks.out]\n{out}\n\n[sinks.dlq]\ntype = \"file\"\npath = \"out/dlq.jsonl\"\n\n\
         [pipelines.main]\nsource = \"input\"\nplugins = {plugins}\nroutes = {{ out = [\"out\"] }}\ndead_letter = \"dlq\"\n{pipeline}\n"
    )
}
