//! Compiles the first-party plugins in `plugins/` to WebAssembly components
//! (`wasm32-wasip2`), signs each with the bundle key, and generates
//! `bundled.rs`, which embeds them in the binary with the key's public half.
//!
//! The bundle key is `plugins/bundled.key`, in the repository: anyone can sign
//! with it, so a host trusts it only for the components embedded in its own
//! binary (`tenon plugin install --bundled`), never for a file. A distribution
//! signs with its own key by setting `TENON_BUNDLE_KEY` to its path.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    for watched in ["plugins", "sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=TENON_BUNDLE_KEY");
    let key_path = std::env::var_os("TENON_BUNDLE_KEY")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("plugins/bundled.key"));
    println!("cargo:rerun-if-changed={}", key_path.display());
    let key_text = std::fs::read_to_string(&key_path)
        .unwrap_or_else(|e| panic!("could not read the bundle key {}: {e}", key_path.display()));
    let key = tenon_sign::SecretKey::from_text(&key_text)
        .unwrap_or_else(|e| panic!("the bundle key {}: {e}", key_path.display()));

    let mut plugins: Vec<String> = std::fs::read_dir(root.join("plugins"))
        .expect("plugins/ exists")
        .filter_map(|e| {
            let e = e.ok()?;
            e.path()
                .join("Cargo.toml")
                .exists()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    plugins.sort();

    let target_dir = root.join("target").join("wasm");
    build_components(&root, &target_dir, &plugins);

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut out = format!(
        "/// The public key the bundled plugins are signed with.\npub const BUNDLE_KEY: &str = {:?};\n\n",
        key.public().to_text()
    );
    out.push_str(
        "/// The bundled plugins: (crate name, signed component bytes).\npub const PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for name in &plugins {
        let file = format!("{}.wasm", name.replace('-', "_"));
        let wasm = target_dir.join("wasm32-wasip2/release").join(&file);
        let bytes = std::fs::read(&wasm).unwrap_or_else(|e| {
            panic!(
                "building plugin `{name}` produced no {}: {e}",
                wasm.display()
            )
        });
        let signed = tenon_sign::sign(&bytes, &key)
            .unwrap_or_else(|e| panic!("could not sign plugin `{name}`: {e}"));
        let signed_path = out_dir.join(&file);
        std::fs::write(&signed_path, signed).unwrap();
        out.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            signed_path.display().to_string()
        ));
    }
    out.push_str("];\n");
    std::fs::write(out_dir.join("bundled.rs"), out).unwrap();
}

/// Runs `cargo build --release --target wasm32-wasip2` for `packages` in a target
/// folder of its own, so it never waits on the outer build's lock.
fn build_components(root: &Path, target_dir: &Path, packages: &[String]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(target_dir);
    for package in packages {
        cmd.args(["-p", package]);
    }
    // Settings of the outer (native) build must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("could not run cargo to build the plugins");
    if !status.success() {
        let installed = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"))
            .unwrap_or(true);
        if !installed {
            panic!(
                "the wasm32-wasip2 target is not installed: run `rustup target add wasm32-wasip2`"
            );
        }
        panic!("building the plugins for wasm32-wasip2 failed (see the output above)");
    }
}
