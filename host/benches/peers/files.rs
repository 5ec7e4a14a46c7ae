//! The file workload, for Redpanda Connect's engine: its MIT-licensed core (benthos v4.60.0)
//! has no Kafka connector, so it and Sluice each read the workload's events as lines of a
//! file, transform them (Bloblang there, the Rust plugin here) and write lines to a file,
//! then exit at the input's end. Sluice fsyncs its output before it acknowledges a batch;
//! benthos's file output does not sync, so Sluice does more work for the same result.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::workload::{event, kept};

pub struct Measured {
    pub rate: f64,
    pub cpu_per_million: f64,
    pub rss_mib: f64,
}

#[derive(Clone, Copy)]
pub enum Contender {
    Sluice,
    Benthos,
}

impl Contender {
    pub const ALL: [Contender; 2] = [Contender::Sluice, Contender::Benthos];

    pub fn name(self) -> &'static str {
        match self {
            Contender::Sluice => "Sluice, Rust plugin (file → file)",
            Contender::Benthos => "Redpanda Connect engine, Bloblang (file → file)",
        }
    }
}

/// Writes `records` events, one per line.
pub fn write_input(path: &Path, records: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..records {
        writeln!(file, "{}", event(i)).unwrap();
    }
    file.flush().unwrap();
}

/// Runs `contender` on `input` to its end; panics unless the output has every kept record.
pub fn measure(root: &Path, contender: Contender, input: &Path, records: u64) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.jsonl");
    let peers = root.join("target/bench/peers");
    let mut command = match contender {
        Contender::Sluice => {
            let config = dir.path().join("sluice.toml");
            std::fs::write(&config, sluice_config(&peers.join("sluice/plugins/rust"), input, &output)).unwrap();
            let mut command = Command::new(peers.join("sluice/sluice"));
            command.arg("run").arg("-c").arg(config);
            command
        }
        Contender::Benthos => {
            let mut command = Command::new(peers.join("benthos/run"));
            command.arg(input).arg(&output);
            command
        }
    };
    let start = Instant::now();
    let child = command.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("start the contender");
    let (status, usage) = wait_with_usage(child.id());
    let took = start.elapsed().as_secs_f64();
    assert!(status == 0, "{} exited with {status}", contender.name());
    let lines = std::fs::read_to_string(&output).unwrap();
    assert_eq!(lines.lines().count() as u64, kept(records), "{}: every kept record once", contender.name());
    assert!(lines.lines().all(|l| l.contains(r#""pipeline":"bench""#)), "{}: not transformed", contender.name());
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measured {
        rate: records as f64 / took,
        cpu_per_million: (cpu(usage.ru_utime) + cpu(usage.ru_stime)) * 1e6 / records as f64,
        rss_mib: usage.ru_maxrss as f64 / 1024.0,
    }
}

/// Waits for `pid`, returning its exit code and resource usage (children it waited for
/// included).
fn wait_with_usage(pid: u32) -> (i32, libc::rusage) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct, which wait4 fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for; both pointers are to live locals.
    let waited = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid as i32, "wait4 failed");
    (if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 }, usage)
}

fn sluice_config(plugins: &Path, input: &Path, output: &Path) -> String {
    format!(
        r#"
[host]
plugins_dir = "{plugins}"
data_dir = "{data}"
status_interval = "60s"

[sources.in]
type = "file"
path = "{input}"
format = "lines"

[sinks.out]
type = "file"
path = "{output}"
format = "lines"

[sinks.rejected]
type = "null"

[pipelines.bench]
source = "in"
plugins = [{{ name = "transform" }}]
routes = {{ out = ["out"] }}
default_route = "out"
dead_letter = "rejected"
batch_size = 1000
"#,
        plugins = plugins.display(),
        data = output.with_file_name("data").display(),
        input = input.display(),
        output = output.display(),
    )
}
