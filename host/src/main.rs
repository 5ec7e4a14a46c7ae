//! The `sluice` command.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use sluice::authoring::Language;
use sluice::authoring::test::Show;
use sluice::codec::LineFormat;
use sluice::config::Config;
use sluice::plugin::PluginEngine;
use sluice::plugin::cache::{CompileCache, Origin};
use sluice::plugin::inspect::Inspection;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Sluice: a stream processor that runs WebAssembly plugins between sources and sinks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipelines of a config file until their sources end or a signal arrives.
    Run {
        #[arg(short, long, default_value = "sluice.toml")]
        config: PathBuf,
    },
    /// Check a config file, its plugins and their configuration, without running anything.
    Validate {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Compile the plugin on stdin to machine code on stdout: what `run` starts for each
    /// plugin file, within `[host] plugin_compile`.
    #[command(name = "compile-plugin", hide = true)]
    CompilePlugin,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Write a new plugin project NAME (a directory) that builds as is, with tests.
    New {
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: Lang,
        /// Where to create the project's directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build the plugin project in DIR into DIR/build/NAME.wasm with its language's toolchain.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Write the .wasm here instead, e.g. the directory a pipeline's plugin watches.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The plugin's name (and its file's): by default the one the project's manifest
        /// gives (Cargo.toml, package.json, go.mod, pyproject.toml), else its directory's.
        #[arg(long)]
        name: Option<String>,
    },
    /// Describe a .wasm file and say whether Sluice can run it.
    Check { file: PathBuf },
    /// Run a plugin over a file of records and print what it does with each, as JSON lines.
    Test {
        file: PathBuf,
        /// Records, one per line.
        #[arg(long)]
        input: PathBuf,
        /// How to read the input lines.
        #[arg(long, value_enum, default_value = "lines")]
        input_format: InputFormat,
        /// Plugin configuration, as KEY=VALUE; repeat for several.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        config: Vec<(String, String)>,
        /// Compare the results with the JSON lines in FILE (the output of an earlier run,
        /// checked by hand) and exit with a failure and a diff if they differ. A
        /// `"rejected"` reason there matches any reason that starts with it.
        #[arg(long, value_name = "FILE")]
        expect: Option<PathBuf>,
        /// Show the plugin's log lines with each record (`"logs"`; records then go one per
        /// call) and the totals of its metrics on a last line, as `logs`, `metrics` or
        /// `logs,metrics`. With --expect, what the expected lines hold is shown and checked.
        #[arg(long, value_name = "WHAT", value_parser = Show::parse)]
        show: Option<Show>,
    },
}

/// Languages with a Sluice SDK.
#[derive(Clone, Copy, ValueEnum)]
enum Lang {
    Rust,
    Python,
    /// JavaScript.
    Js,
    /// TypeScript.
    Ts,
    Go,
    C,
}

impl From<Lang> for Language {
    fn from(lang: Lang) -> Language {
        match lang {
            Lang::Rust => Language::Rust,
            Lang::Python => Language::Python,
            Lang::Js => Language::JavaScript,
            Lang::Ts => Language::TypeScript,
            Lang::Go => Language::Go,
            Lang::C => Language::C,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    /// Each line is a record's value.
    Lines,
    /// Each line is a JSON record envelope {"key","value","headers","timestamp"}.
    Envelope,
}

/// mimalloc rather than the system allocator: plugin results are large, short-lived
/// buffers, which glibc's malloc returns to the kernel and faults back in on every batch
/// (about a fifth of the boundary's cost in `benches/boundary.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `println!` that returns the error instead of panicking when stdout is gone.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*)
    };
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

fn parse_key_value(arg: &str) -> Result<(String, String), String> {
    arg.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("`{arg}` is not KEY=VALUE"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(cli.log_format) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    // The plugin compiler runs within an address-space limit: no async runtime, whose
    // threads (one per core) would take their stacks out of it.
    if let Command::CompilePlugin = cli.command {
        return match sluice::plugin::compiler::serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    // A write past the file size limit (RLIMIT_FSIZE) raises SIGXFSZ, whose default action
    // kills the process. Ignored, the write fails with EFBIG instead, which the sink
    // reports and retries like a full disk, without acknowledging anything.
    // SAFETY: called before any other thread exists; SIG_IGN runs no handler code.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    // Test builds only: the fail points named in FAILPOINTS (see host/Cargo.toml).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice")
        .build()
        .expect("cannot start the async runtime");
    match runtime.block_on(execute(cli.command)) {
        Ok(code) => code,
        // Output piped into a command that stopped reading (`| head`): nothing to report.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { config } => {
            let config = Config::load(&config)?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            sluice::topology::run(config, shutdown).await?;
            tracing::info!("stopped cleanly");
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { config: path } => {
            let config = Config::load(&path)?;
            sluice::topology::check(&config).await?;
            say!("{}: ok ({} pipelines)", path.display(), config.pipelines.len())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CompilePlugin => unreachable!("handled before the runtime starts"),
        Command::Plugin(PluginCommand::New { name, lang, dir }) => {
            let project = sluice::authoring::new::new(&name, lang.into(), &dir)?;
            say!(
                "wrote {}: see its README.md; build it with `sluice plugin build {}`",
                project.display(),
                project.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin(PluginCommand::Build { dir, out, name }) => {
            let started = std::time::Instant::now();
            let build = move || sluice::authoring::build::build(&dir, out.as_deref(), name.as_deref());
            let built = tokio::task::spawn_blocking(build).await??;
            let path = built.path.clone();
            let compiling = std::time::Instant::now();
            let inspection = tokio::task::spawn_blocking(move || inspect(&path)).await??;
            let how = match inspection.origin {
                Some(Origin::Compiled) => "machine code for this host, kept for `sluice run`",
                Some(Origin::Cache | Origin::UserCache) => "unchanged since it was last compiled",
                None => "machine code for this host; no home directory to keep it in",
            };
            say!("built {} ({}, {})", built.path.display(), built.language, bytesize::ByteSize::b(built.bytes))?;
            say!("  toolchain {:>6.1} s", built.took.as_secs_f64())?;
            say!("  compile   {:>6.1} s  ({how})", compiling.elapsed().as_secs_f64())?;
            say!("  in all    {:>6.1} s", started.elapsed().as_secs_f64())?;
            say!("{inspection}")?;
            Ok(verdict_code(&inspection))
        }
        Command::Plugin(PluginCommand::Check { file }) => {
            tokio::task::spawn_blocking(move || check_plugin(&file)).await?
        }
        Command::Plugin(PluginCommand::Test { file, input, input_format, config, expect, show }) => {
            let format = match input_format {
                InputFormat::Lines => LineFormat::Lines,
                InputFormat::Envelope => LineFormat::Envelope,
            };
            let show = show.unwrap_or_default();
            let test = move || test_plugin(&file, &input, format, &config, show, expect.as_deref());
            tokio::task::spawn_blocking(test).await?
        }
    }
}

fn check_plugin(file: &Path) -> anyhow::Result<ExitCode> {
    let inspection = inspect(file)?;
    say!("{inspection}")?;
    Ok(verdict_code(&inspection))
}

/// What `file` is, compiled through the user's cache (where `sluice run` finds it).
fn inspect(file: &Path) -> anyhow::Result<Inspection> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin");
    PluginEngine::new()?
        .inspect_cached(name, &bytes, CompileCache::user().as_ref())
        .with_context(|| format!("{} is not a usable plugin", file.display()))
}

fn verdict_code(inspection: &Inspection) -> ExitCode {
    if inspection.verdict.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn test_plugin(
    file: &Path,
    input: &Path,
    format: LineFormat,
    config: &[(String, String)],
    show: Show,
    expect: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let Some(expect) = expect else {
        sluice::authoring::test::run(file, input, format, config, show, &mut std::io::stdout().lock())?;
        return Ok(ExitCode::SUCCESS);
    };
    let expected = std::fs::read_to_string(expect).with_context(|| format!("cannot read {}", expect.display()))?;
    let show = show.or(sluice::authoring::expect::shows(&expected, expect)?);
    let mut actual = Vec::new();
    sluice::authoring::test::run(file, input, format, config, show, &mut actual)?;
    let actual = String::from_utf8(actual).expect("plugin test writes JSON");
    let comparison = sluice::authoring::expect::compare(&actual, &expected, expect)?;
    if comparison.matches() {
        say!("ok: {} records as {} expects", comparison.records, expect.display())?;
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{}", comparison.diff);
        Ok(ExitCode::FAILURE)
    }
}

/// Cancels `shutdown` on SIGINT or SIGTERM; a second signal exits at once.
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("cannot listen for SIGTERM");
    let mut int = signal(SignalKind::interrupt()).expect("cannot listen for SIGINT");
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("stopping: finishing in-flight batches (signal again to exit at once)");
    shutdown.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    std::process::exit(130);
}

fn init_logging(format: LogFormat) -> Result<(), String> {
    let filter = log_filter(std::env::var("SLUICE_LOG").ok().as_deref())?;
    // Colours only for a person at a terminal, never in files or collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

/// The filter `SLUICE_LOG` asks for (default `info`). A bare level is Sluice's own, plugin
/// logs included: its libraries (Wasmtime, Cranelift, the Kafka client) stay at `info`, or
/// at the level asked if that is quieter, so that `SLUICE_LOG=debug` shows Sluice's debug
/// lines, not Cranelift's thousands. Anything else is `tracing`'s directive syntax, as is:
/// `SLUICE_LOG=info,wasmtime=debug` shows a library's.
fn log_filter(spec: Option<&str>) -> Result<EnvFilter, String> {
    use tracing_subscriber::filter::LevelFilter;
    let spec = spec.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("info");
    let directives = match spec.parse::<LevelFilter>() {
        Ok(level) => format!("{},sluice={level}", level.min(LevelFilter::INFO)),
        Err(_) => spec.to_owned(),
    };
    EnvFilter::builder().parse(&directives).map_err(|e| format!("SLUICE_LOG={spec:?} is not a log filter: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_log_level_is_sluices_own_and_directives_are_taken_as_they_are() {
        let filter = |spec| log_filter(spec).unwrap().to_string();
        assert_eq!(filter(None), "sluice=info,info");
        assert_eq!(filter(Some("debug")), "sluice=debug,info");
        assert_eq!(filter(Some("TRACE")), "sluice=trace,info");
        assert_eq!(filter(Some("warn")), "sluice=warn,warn");
        assert_eq!(filter(Some("info,wasmtime=debug")), "wasmtime=debug,info");
        assert!(
            log_filter(Some("sluice=loud")).unwrap_err().starts_with("SLUICE_LOG=\"sluice=loud\" is not a log filter")
        );
    }
}
