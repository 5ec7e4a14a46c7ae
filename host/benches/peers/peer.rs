//! The contenders, each a program under `bench/peers/` that `scripts/bench-peers` built into
//! `target/bench/peers/NAME` with a `run` there, started with the topics and group in its
//! environment (`BENCH_BROKERS`, `BENCH_INPUT`, `BENCH_OUTPUT`, `BENCH_GROUP`,
//! `BENCH_STATE_DIR`) and stopped with SIGTERM. Every contender is its own process tree, so
//! its CPU time and memory are read from `/proc` the same way for all of them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A contender: a peer's `run`, with extra environment for variants of one peer.
pub struct Peer {
    pub name: &'static str,
    /// Its folder under `bench/peers` (and `target/bench/peers`).
    pub folder: &'static str,
    pub env: &'static [(&'static str, &'static str)],
}

impl Peer {
    pub fn slug(&self) -> String {
        let lower = self.name.to_ascii_lowercase();
        lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-")
    }

    pub fn start(&self, root: &Path, brokers: &str, input: &str, output: &str, group: &str) -> Running {
        let run = root.join("target/bench/peers").join(self.folder).join("run");
        assert!(run.exists(), "{} is missing: run scripts/bench-peers, which builds the peers", run.display());
        let state = tempfile::tempdir().unwrap();
        let log = state.path().join("log");
        let child = Command::new(&run)
            .envs(self.env.iter().copied())
            .env("BENCH_BROKERS", brokers)
            .env("BENCH_INPUT", input)
            .env("BENCH_OUTPUT", output)
            .env("BENCH_GROUP", group)
            .env("BENCH_STATE_DIR", state.path().join("state"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", run.display()));
        Running { child, log, _state: state }
    }
}

/// A started contender; [`Running::stop`] ends it.
pub struct Running {
    child: Child,
    log: PathBuf,
    _state: tempfile::TempDir,
}

impl Running {
    /// Seconds of CPU the contender's processes have used so far.
    pub fn cpu_seconds(&self) -> f64 {
        // SAFETY: sysconf has no memory-safety preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        self.tree().iter().filter_map(|pid| stat(*pid)).map(|s| (s.utime + s.stime) as f64 / ticks).sum()
    }

    /// The sum of the peak resident memory of the contender's processes, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let kib: u64 = self
            .tree()
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .filter_map(|status| {
                let line = status.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .sum();
        kib as f64 / 1024.0
    }

    /// Panics with the contender's log if it has exited.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the contender exited ({status}):\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within 30 s.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                eprintln!("the contender did not stop within 30 s of SIGTERM; killed");
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The contender's pid and its descendants'.
    fn tree(&self) -> Vec<u32> {
        let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| Some((pid, stat(pid)?.ppid)))
            .collect();
        let mut tree = vec![self.child.id()];
        let mut i = 0;
        while i < tree.len() {
            let parent = tree[i];
            tree.extend(all.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
            i += 1;
        }
        tree
    }
}

struct Stat {
    ppid: u32,
    utime: u64,
    stime: u64,
}

/// Fields of `/proc/PID/stat` (after the command name, which may contain spaces).
fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text[text.rfind(')')? + 2..].split(' ').collect();
    // Fields 4, 14 and 15 of proc(5), counted from the state (field 3) here.
    Some(Stat { ppid: fields[1].parse().ok()?, utime: fields[11].parse().ok()?, stime: fields[12].parse().ok()? })
}
