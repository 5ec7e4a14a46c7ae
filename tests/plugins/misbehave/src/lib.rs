//! Misbehaves on command, so the host's tests can check that a plugin failure costs only
//! the record it failed on, never takes the host down and never loses a record.
//!
//! By record value:
//! - `panic` traps; `spin` loops forever; `hog` allocates without bound; `recurse`
//!   recurses without bound; `sleep` sleeps for a minute (a WASI clock wait, where no
//!   wasm code runs); `leak` keeps 4 MiB for the rest of the instance's life, then forwards;
//! - `flood` emits a hundred thousand outputs; `giant` emits one 8 MiB output; `noroute` forwards
//!   to a route no pipeline has; `logflood` logs 10 000 lines (with a field that claims another pipeline); `slow` busy-waits 30 ms
//!   (legal);
//! - `env`, `file` and `socket` try to read the environment variable `HOME`, read
//!   `/etc/hostname` and connect to 127.0.0.1:9, and emit what they got (`env:denied`…);
//! - `reject` is rejected; `longreject` is rejected with a 2 MiB reason;
//! - `handles` holds 20 000 WASI pollables at once; `bigname` counts a metric with an
//!   8 MiB name; `logbomb` makes one `log` call with 30 fields that all point at one
//!   4 MiB string (120 MiB of arguments in 4 MiB of memory), `logbomb1` one such field;
//! - anything else is forwarded.
//!
//! Config: `log = "yes"` logs and counts each record; `stderr = "yes"` prints about 100
//! bytes to stderr for each record; `fail_init` makes `init` fail; `sleep_init` makes
//! `init` sleep for a minute; `panic_always` panics on every record (a broken release);
//! `fail_init_if = PATH` makes `init` fail while PATH exists (granted to it by the test),
//! so that a test can let a plugin start once and refuse to start again.

use std::time::{Duration, Instant};

use sluice_sdk::{Config, Level, Output, Plugin, Record, Reject, counter_add, log};

pub struct Misbehave {
    log: bool,
    stderr: bool,
    panic_always: bool,
}

impl Plugin for Misbehave {
    fn init(config: &Config) -> Result<Self, String> {
        if config.get("fail_init").is_some() {
            return Err("asked to fail".into());
        }
        if let Some(path) = config.get("fail_init_if")
            && std::fs::exists(path).unwrap_or(false)
        {
            return Err(format!("asked to fail while {path} exists"));
        }
        if config.get("sleep_init").is_some() {
            std::thread::sleep(Duration::from_secs(60));
        }
        Ok(Misbehave {
            log: config.get("log").is_some(),
            stderr: config.get("stderr").is_some(),
            panic_always: config.get("panic_always").is_some(),
        })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
        if self.stderr {
            eprintln!("misbehave: looking at record {} of {}, which is fine so far", record.offset(), record.stream());
        }
        if self.panic_always {
            panic!("asked to panic on every record");
        }
        match record.value().unwrap_or_default() {
            b"panic" => panic!("asked to panic"),
            b"spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            b"hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            b"recurse" => {
                std::hint::black_box(recurse(std::hint::black_box(1)));
            }
            b"sleep" => std::thread::sleep(Duration::from_secs(60)),
            b"leak" => {
                std::hint::black_box(Box::leak(vec![1u8; 4 << 20].into_boxed_slice()));
            }
            b"flood" => {
                for _ in 0..100_000 {
                    out.emit_value(b"f");
                }
                return Ok(());
            }
            b"giant" => {
                out.emit_value(vec![b'g'; 8 << 20]);
                return Ok(());
            }
            b"noroute" => {
                out.forward_to("nowhere");
                return Ok(());
            }
            b"logflood" => {
                for i in 0..10_000 {
                    log(
                        Level::Info,
                        "flooding\nINFO forged host line",
                        &[("pipeline", "forged"), ("i", &i.to_string())],
                    );
                }
            }
            b"slow" => {
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(30) {
                    std::hint::spin_loop();
                }
            }
            b"env" => {
                out.emit_value(outcome("env", std::env::var("HOME").ok()));
                return Ok(());
            }
            b"file" => {
                out.emit_value(outcome("file", std::fs::read("/etc/hostname").ok()));
                return Ok(());
            }
            b"socket" => {
                out.emit_value(outcome("socket", std::net::TcpStream::connect("127.0.0.1:9").ok()));
                return Ok(());
            }
            b"handles" => {
                for _ in 0..20_000 {
                    std::mem::forget(wasip2::clocks::monotonic_clock::subscribe_duration(1_000_000_000));
                }
            }
            b"bigname" => counter_add(&"n".repeat(8 << 20), 1),
            b"logbomb" => log_aliased(30),
            b"logbomb1" => log_aliased(1),
            b"reject" => return Err(Reject::new("asked to reject")),
            b"longreject" => return Err(Reject::new(format!("asked to reject at length: {}", "r".repeat(2 << 20)))),
            _ => {}
        }
        if self.log {
            log(Level::Info, "record seen", &[("offset", &record.offset().to_string())]);
            counter_add("records_seen", 1);
        }
        out.forward();
        Ok(())
    }
}

/// `what:denied`, or `what:granted` when the sandbox let the plugin have it.
fn outcome<T>(what: &str, got: Option<T>) -> String {
    format!("{what}:{}", if got.is_some() { "granted" } else { "denied" })
}

// The `log` import itself, below the SDK (whose safe `log` copies every field): its core
// signature in the canonical ABI is the level, the message's pointer and length, and the
// pointer and length of the list of `(key, value)` string pairs.
#[link(wasm_import_module = "sluice:plugin/host@0.1.0")]
unsafe extern "C" {
    #[link_name = "log"]
    fn raw_log(level: i32, message: *const u8, message_len: usize, fields: *const [usize; 4], fields_len: usize);
}

/// One `log` call at info level whose `times` fields all have the same 4 MiB value.
fn log_aliased(times: usize) {
    let big = "b".repeat(4 << 20);
    let message = "aliased fields";
    let fields: Vec<[usize; 4]> =
        (0..times).map(|_| [b"k".as_ptr() as usize, 1, big.as_ptr() as usize, big.len()]).collect();
    // SAFETY: every pointer and length names live UTF-8 bytes of this module's memory,
    // laid out as the canonical ABI's `list<tuple<string, string>>` on wasm32 (four
    // 32-bit words a pair); the host only reads them during the call.
    unsafe { raw_log(2, message.as_ptr(), message.len(), fields.as_ptr(), fields.len()) }
}

/// Recurses until the stack runs out.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 16]);
    recurse(depth + 1) + frame[3]
}

sluice_sdk::export_plugin!(Misbehave);
