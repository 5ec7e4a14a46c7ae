//! Compiling a plugin file in a child process, bounded in time, memory and cores.
//!
//! Cranelift's time and memory grow with the code it is given, and nothing inside a
//! process can stop it part-way: a 70 MB component of plain arithmetic takes two minutes
//! and 1.4 GB to compile, on every core. A plugin file is whatever was copied into the
//! plugins directory, so the service compiles it in a child, `sluice compile-plugin`
//! (the same executable, with the same engine settings, see
//! [`super::engine::codegen_config`]), which reads the `.wasm` on stdin and writes the
//! compiled code on stdout. The child runs with an address-space limit and on half the
//! cores; the host stops it when its time is up. A compilation that runs out of any of
//! them costs the host a refusal of that version, with the reason, not its memory or its
//! cores. This bounds resources; it is not a security boundary: the child is the host's
//! own code, and what it writes is loaded as the compile cache's entries are, trusted
//! once Wasmtime's header check passes. (Not at a lower CPU priority: on a
//! busy machine a niced compiler starves, and a plugin that cannot compile in time at
//! start is a host that cannot start; measured, a 3.5 MB Go plugin took 76 s at nice 10
//! beside two busy loops.)

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;

use anyhow::Context;

use crate::config::CompileLimits;

/// How the service compiles plugins: `exe compile-plugin`, within `limits`.
pub struct IsolatedCompiler {
    exe: PathBuf,
    pub(super) limits: CompileLimits,
}

/// The hidden subcommand that compiles stdin to stdout.
pub const SUBCOMMAND: &str = "compile-plugin";

impl IsolatedCompiler {
    /// A compiler that runs this very executable: `/proc/self/exe`, which stays the running
    /// build even after a package upgrade replaced the file it was started from (whose
    /// code Wasmtime would refuse to load into this build).
    pub fn current(limits: CompileLimits) -> anyhow::Result<Self> {
        let exe = PathBuf::from("/proc/self/exe");
        if !exe.exists() {
            anyhow::bail!("cannot find the host's own executable to compile plugins with: /proc is not mounted");
        }
        Ok(Self::with_executable(exe, limits))
    }

    /// A compiler that runs `exe`, a `sluice` binary of the same build.
    pub fn with_executable(exe: PathBuf, limits: CompileLimits) -> Self {
        IsolatedCompiler { exe, limits }
    }

    /// The compiled code of `bytes`, as `Component::serialize` writes it.
    pub(super) fn compile(&self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let half = std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2));
        let mut command = Command::new(&self.exe);
        command
            .arg(SUBCOMMAND)
            .env("RAYON_NUM_THREADS", half.to_string())
            // Only its error, which the host quotes, on stderr.
            .env("SLUICE_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let memory = self.limits.memory.as_u64();
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the child between fork and exec, and makes one
            // async-signal-safe system call, setrlimit(2), on a value on its stack.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit { rlim_cur: memory, rlim_max: memory };
                    match libc::setrlimit(libc::RLIMIT_AS, &limit) {
                        0 => Ok(()),
                        _ => Err(std::io::Error::last_os_error()),
                    }
                })
            };
        }
        let mut child = command.spawn().with_context(|| format!("cannot start {}", self.exe.display()))?;
        let finished = self.run(&mut child, bytes);
        // Reaped whatever happened (`run` killed it if it failed before it exited).
        let _ = child.wait();
        finished
    }

    /// Feeds `bytes` to the child and collects what it writes, until it exits or its time
    /// is up.
    fn run(&self, child: &mut Child, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let (mut stdin, stdout, mut stderr) = (
            child.stdin.take().expect("piped"),
            child.stdout.take().expect("piped"),
            child.stderr.take().expect("piped"),
        );
        let (done_tx, done) = mpsc::channel();
        std::thread::scope(|scope| {
            // A child that stops reading (it failed) ends the write with an error; what it
            // said on stderr is the reason, so the error is not kept.
            scope.spawn(move || drop(stdin.write_all(bytes)));
            let said = scope.spawn(move || {
                let mut said = String::new();
                let _ = stderr.read_to_string(&mut said);
                said
            });
            let limits = &self.limits;
            // No more than the child's address space could hold.
            let most = limits.memory.as_u64();
            scope.spawn(move || {
                let mut code = Vec::new();
                let read = stdout.take(most.saturating_add(1)).read_to_end(&mut code).map(|_| code);
                let _ = done_tx.send(read);
            });
            let code = match done.recv_timeout(limits.timeout) {
                Ok(Ok(code)) if code.len() as u64 <= most => Ok(code),
                Ok(Ok(_)) => Err(anyhow::anyhow!("the compiler wrote more than {} of code", limits.memory)),
                Ok(Err(error)) => Err(anyhow::Error::from(error).context("cannot read the compiler's output")),
                Err(_) => Err(anyhow::anyhow!(
                    "compiling it took longer than {:?} (`[host] plugin_compile.timeout`); the compiler was stopped",
                    limits.timeout
                )),
            }
            // Stopped before the scope ends, which waits for the threads on its pipes.
            .inspect_err(|_| drop(child.kill()))?;
            let status = child.wait().context("cannot wait for the compiler")?;
            let said = said.join().unwrap_or_default();
            match status.success() {
                true => Ok(code),
                false => Err(failure(status, said.trim(), limits)),
            }
        })
    }
}

/// Why the compiler failed, in words.
fn failure(status: ExitStatus, said: &str, limits: &CompileLimits) -> anyhow::Error {
    use std::os::unix::process::ExitStatusExt;
    // The standard library's words when an allocation fails, before it aborts.
    if said.contains("memory allocation of") || said.contains("out of memory") {
        return anyhow::anyhow!(
            "compiling it needed more memory than {} (`[host] plugin_compile.memory`); the compiler stopped",
            limits.memory
        );
    }
    // What the child's `main` prints before an error.
    let said = said.strip_prefix("error: ").unwrap_or(said);
    match (status.signal(), said.is_empty()) {
        (_, false) => anyhow::anyhow!("{said}"),
        (Some(signal), true) => anyhow::anyhow!("the compiler was killed by signal {signal}"),
        (None, true) => anyhow::anyhow!("the compiler failed ({status}) without saying why"),
    }
}

/// The child's side: compiles the component on stdin and writes its code to stdout. An
/// error is printed for the host to quote.
pub fn serve() -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes).context("cannot read the plugin")?;
    super::engine::check_header(&bytes)?;
    let engine = wasmtime::Engine::new(&super::engine::codegen_config())?;
    let component = wasmtime::component::Component::from_binary(&engine, &bytes)?;
    let code = component.serialize()?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&code)?;
    stdout.flush()?;
    Ok(())
}
