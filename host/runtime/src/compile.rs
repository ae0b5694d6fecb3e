//! Compiling a component, bounded in time and memory.
//!
//! Cranelift's time and memory grow with what a component contains, and a
//! crafted component of a few hundred KiB can make it work for many seconds and
//! hundreds of MiB. Compilation cannot be interrupted in-process, so the host
//! compiles in a child process ([`Compiler::Worker`]: the `tenon` binary runs
//! itself with [`WORKER_ARG`]) and kills it past its time or its resident memory;
//! the component is then refused. Embedding the library without a worker
//! ([`Compiler::InProcess`]) keeps only the size cap.
//!
//! The worker compiles with the same settings as the engine ([`config`]); the
//! engine deserializes what it answers, which checks that it was made for this
//! engine, and the compile cache records a MAC of it ([`crate::engine`]).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The first argument that makes the `tenon` binary a compile worker.
pub const WORKER_ARG: &str = "__compile-component";

/// Where components are compiled.
#[derive(Debug, Clone)]
pub enum Compiler {
    /// In this process: no bound but the component size cap.
    InProcess,
    /// In a child process `program args... [--no-fuel]`, which must call
    /// [`worker_main`]; killed past `timeout` or `memory_bytes` resident.
    Worker {
        program: PathBuf,
        args: Vec<OsString>,
        timeout: Duration,
        memory_bytes: u64,
    },
}

impl Compiler {
    /// The worker that runs this very executable with [`WORKER_ARG`], bounded by
    /// the defaults or `TENON_COMPILE_TIMEOUT_MS` and `TENON_COMPILE_MEMORY_MIB`.
    pub fn this_executable() -> std::io::Result<Compiler> {
        let env = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        Ok(Compiler::Worker {
            program: std::env::current_exe()?,
            args: vec![WORKER_ARG.into()],
            timeout: Duration::from_millis(env(
                "TENON_COMPILE_TIMEOUT_MS",
                crate::limits::DEFAULT_COMPILE_TIMEOUT_MS,
            )),
            memory_bytes: env(
                "TENON_COMPILE_MEMORY_MIB",
                crate::limits::DEFAULT_COMPILE_MEMORY_MIB,
            )
            .saturating_mul(1 << 20),
        })
    }
}

/// Why a component did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("{0}")]
    Invalid(String),
    #[error("compiling it took longer than {0} ms, the limit; it was stopped")]
    TimedOut(u64),
    #[error("compiling it needed more than {0} MiB of memory, the limit; it was stopped")]
    OutOfMemory(u64),
    #[error("the compile worker failed: {0}")]
    Worker(String),
}

/// The settings every Tenon engine compiles with: the component model, fuel
/// metering (unless measuring its cost), epoch interruption. The engine adds its
/// instance pool; the worker uses these alone.
pub fn config(fuel: bool) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(fuel)
        .epoch_interruption(true);
    config
}

/// Compiles `wasm` with `compiler` for an engine with these settings.
pub fn compile(compiler: &Compiler, fuel: bool, wasm: &[u8]) -> Result<Vec<u8>, CompileError> {
    match compiler {
        Compiler::InProcess => precompile(fuel, wasm),
        Compiler::Worker {
            program,
            args,
            timeout,
            memory_bytes,
        } => in_worker(program, args, *timeout, *memory_bytes, fuel, wasm),
    }
}

fn precompile(fuel: bool, wasm: &[u8]) -> Result<Vec<u8>, CompileError> {
    let engine =
        wasmtime::Engine::new(&config(fuel)).map_err(|e| CompileError::Worker(format!("{e:#}")))?;
    engine
        .precompile_component(wasm)
        .map_err(|e| CompileError::Invalid(format!("{e:#}")))
}

fn in_worker(
    program: &PathBuf,
    args: &[OsString],
    timeout: Duration,
    memory_bytes: u64,
    fuel: bool,
    wasm: &[u8],
) -> Result<Vec<u8>, CompileError> {
    let failed = |what: &str, e: std::io::Error| CompileError::Worker(format!("{what}: {e}"));
    let mut command = Command::new(program);
    command.args(args);
    if !fuel {
        command.arg("--no-fuel");
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("TENON_LOG")
        .spawn()
        .map_err(|e| failed(&format!("could not start {}", program.display()), e))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = wasm.to_vec();
    let writer = std::thread::spawn(move || {
        // A worker that dies early closes the pipe; its exit status says why.
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let errors = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stderr.by_ref().take(64 * 1024).read_to_string(&mut out);
        out
    });

    let started = Instant::now();
    let stop = |child: &mut std::process::Child, error: CompileError| {
        let _ = child.kill();
        let _ = child.wait();
        Err(error)
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return stop(&mut child, failed("could not wait for it", e)),
        }
        if started.elapsed() > timeout {
            return stop(
                &mut child,
                CompileError::TimedOut(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
            );
        }
        if resident_bytes(child.id()).is_some_and(|rss| rss > memory_bytes) {
            return stop(&mut child, CompileError::OutOfMemory(memory_bytes >> 20));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    let compiled = reader
        .join()
        .map_err(|_| CompileError::Worker("its output reader panicked".into()))?
        .map_err(|e| failed("could not read its output", e))?;
    let message = errors.join().unwrap_or_default();
    if status.success() {
        Ok(compiled)
    } else if status.code() == Some(WORKER_REFUSED) {
        Err(CompileError::Invalid(message.trim().to_owned()))
    } else {
        Err(CompileError::Worker(format!(
            "it exited with {status}: {}",
            message.trim()
        )))
    }
}

/// The resident memory of process `pid`, from `/proc` (Linux); none elsewhere.
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The worker's exit code for a component that does not compile.
const WORKER_REFUSED: i32 = 3;

/// The compile worker: reads a component on stdin, writes it compiled on
/// stdout. `args` are the arguments after [`WORKER_ARG`].
pub fn worker_main(args: &[String]) -> ExitCode {
    let fuel = !args.iter().any(|a| a == "--no-fuel");
    let mut wasm = Vec::new();
    let cap = crate::limits::MAX_COMPONENT_BYTES as u64 + 1;
    if let Err(e) = std::io::stdin().take(cap).read_to_end(&mut wasm) {
        eprintln!("could not read the component: {e}");
        return ExitCode::FAILURE;
    }
    match precompile(fuel, &wasm) {
        Ok(compiled) => match std::io::stdout().write_all(&compiled) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("could not write the compiled component: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(WORKER_REFUSED as u8)
        }
    }
}
