//! Compiles the hostile guests in `guests/` to WebAssembly components
//! (`wasm32-wasip2`) and generates `$OUT_DIR/guests.rs` for the tests.
//!
//! Every folder `guests/<name>/` holds one crate, `guest-<name>`, whose artifact
//! (a `cdylib`, or a `bin` named `guest_<name>`) is
//! `<workspace>/target/wasm/wasm32-wasip2/release/guest_<name>.wasm`. That target
//! folder is shared with the host's build script and is not the outer build's, so
//! the nested `cargo` never waits on the lock of the build that runs it.
//!
//! `guests.rs` holds, for each guest, `pub const <NAME>: &str` (the component's
//! absolute path; `memory-bomb` gives `MEMORY_BOMB`), `ALL` (crate name and path
//! of every guest) and `foreach_guest!`, which calls a macro with the crate name
//! of each guest in snake case (`guest_memory_bomb`) so a test suite can fail to
//! compile when a guest has no test.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The target every guest is built for; a `cdylib` or `bin` built for it is a
/// component.
const TARGET: &str = "wasm32-wasip2";

/// The first bytes of a binary component: the `\0asm` magic, version `0x0d`,
/// layer 1 (a core module has layer 0).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// Settings of the outer (native) build that must not reach the guests' build:
/// flags, target and target folder, the jobserver, and wrappers such as
/// clippy's or `cargo fix`'s.
const LEAKING_VARS: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CLIPPY_CONF_DIR",
    "__CARGO_FIX_PLZ",
    "__CARGO_FIX_DIAGNOSTICS_SERVER",
];

/// A guest crate in `guests/`.
struct Guest {
    /// The folder name: `memory-bomb`.
    name: String,
}

impl Guest {
    /// `guest-memory-bomb`.
    fn package(&self) -> String {
        format!("guest-{}", self.name)
    }

    /// `guest_memory_bomb`: the artifact's file stem and the `foreach_guest!` name.
    fn snake(&self) -> String {
        format!("guest_{}", self.name.replace('-', "_"))
    }

    /// `MEMORY_BOMB`.
    fn constant(&self) -> String {
        self.name.replace('-', "_").to_uppercase()
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .ok_or("the tests crate has no parent folder")?
        .to_path_buf();
    let guests_dir = manifest_dir.join("guests");
    for watched in [&guests_dir, &root.join("wit"), &root.join("Cargo.toml")] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    check_target_installed()?;
    let guests = find_guests(&guests_dir)?;
    let target_dir = root.join("target").join("wasm");
    build(&root, &target_dir, &guests)?;

    let release_dir = target_dir.join(TARGET).join("release");
    let mut generated = String::new();
    for guest in &guests {
        let wasm = release_dir.join(format!("{}.wasm", guest.snake()));
        check_component(&wasm, guest)?;
        let path = wasm
            .to_str()
            .ok_or_else(|| format!("{} is not valid UTF-8", wasm.display()))?;
        let _ = writeln!(
            generated,
            "/// The component of `{}` (`tests/guests/{}`).\npub const {}: &str = {path:?};",
            guest.package(),
            guest.name,
            guest.constant(),
        );
    }
    generated.push_str(
        "\n/// Every guest: (crate name, component path).\npub const ALL: &[(&str, &str)] = &[\n",
    );
    for guest in &guests {
        let _ = writeln!(
            generated,
            "    ({:?}, {}),",
            guest.package(),
            guest.constant()
        );
    }
    generated.push_str(
        "];\n\n/// Calls `$mac!(guest_<name>)` for every guest, e.g. with\n\
         /// [`assert_guest_tested!`](crate::assert_guest_tested).\n\
         #[macro_export]\nmacro_rules! foreach_guest {\n    ($mac:ident) => {\n",
    );
    for guest in &guests {
        let _ = writeln!(generated, "        $mac!({});", guest.snake());
    }
    generated.push_str("    };\n}\n");

    let out = PathBuf::from(env("OUT_DIR")?).join("guests.rs");
    fs::write(&out, generated).map_err(|err| format!("could not write {}: {err}", out.display()))
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("cargo did not set `{name}`"))
}

/// Fails early, with the fix, when the standard library for [`TARGET`] is missing.
fn check_target_installed() -> Result<(), String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .map_err(|err| format!("could not run `{rustc}`: {err}"))?;
    let libdir = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !Path::new(libdir.trim()).is_dir() {
        return Err(format!(
            "the {TARGET} target is not installed: run `rustup target add {TARGET}`"
        ));
    }
    Ok(())
}

/// Every crate folder in `guests/`, sorted, each checked to be named `guest-<folder>`.
fn find_guests(guests_dir: &Path) -> Result<Vec<Guest>, String> {
    let entries = fs::read_dir(guests_dir)
        .map_err(|err| format!("could not list {}: {err}", guests_dir.display()))?;
    let mut guests = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| format!("could not list guests: {err}"))?;
        let manifest = entry.path().join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let guest = Guest { name };
        let text = fs::read_to_string(&manifest)
            .map_err(|err| format!("could not read {}: {err}", manifest.display()))?;
        let expected = format!("name = \"{}\"", guest.package());
        if !text.lines().any(|line| line.trim() == expected) {
            return Err(format!(
                "{} must declare `{expected}`: a guest crate is named after its folder",
                manifest.display()
            ));
        }
        guests.push(guest);
    }
    guests.sort_by(|a, b| a.name.cmp(&b.name));
    if guests.is_empty() {
        return Err(format!("no guest crates in {}", guests_dir.display()));
    }
    Ok(guests)
}

/// Runs `cargo build --release --target wasm32-wasip2` for every guest at once.
fn build(root: &Path, target_dir: &Path, guests: &[Guest]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(target_dir)
        // Cargo's output goes to this script's stderr: a line on stdout could be
        // read as a `cargo:` instruction.
        .stdout(Stdio::from(std::io::stderr()));
    for guest in guests {
        command.args(["-p", &guest.package()]);
    }
    for var in LEAKING_VARS {
        command.env_remove(var);
    }
    let status = command
        .status()
        .map_err(|err| format!("could not run `{cargo}` to build the guests: {err}"))?;
    if !status.success() {
        return Err(format!(
            "building the guests for {TARGET} failed ({status}); see cargo's output above"
        ));
    }
    Ok(())
}

/// Checks that `wasm` exists and is a component, not a core module.
fn check_component(wasm: &Path, guest: &Guest) -> Result<(), String> {
    let bytes = fs::read(wasm).map_err(|err| {
        format!(
            "building `{}` produced no {}: {err}",
            guest.package(),
            wasm.display()
        )
    })?;
    if !bytes.starts_with(&COMPONENT_HEADER) {
        return Err(format!(
            "{} is not a component (it starts with {:02x?})",
            wasm.display(),
            &bytes[..bytes.len().min(8)]
        ));
    }
    Ok(())
}
