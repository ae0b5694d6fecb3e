//! What the `tenon` binary promises a local user and an operator about the
//! data folder and about components it is asked to install: the folder is its
//! user's alone, and compiling a component is bounded in time and memory (see
//! `SECURITY.md`).

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use support::{code, stderr, tenon_command, tenon_ok};

/// A component whose one function Cranelift takes seconds and tens of MiB to
/// compile: 800 live locals mixed by `ops` multiplications (277 KB at 20,000).
fn compile_bomb(ops: usize) -> Vec<u8> {
    let locals = 800;
    let mut body = String::new();
    for i in 1..locals {
        body.push_str(&format!("local.get 0 i64.const {i} i64.mul local.set {i} "));
    }
    for i in 0..ops {
        let l = |k: usize| 1 + (i * k) % (locals - 1);
        body.push_str(&format!(
            "local.get {} local.get {} i64.mul local.get {} i64.xor local.set {} ",
            l(1),
            l(7),
            l(13),
            l(31)
        ));
    }
    body.push_str("i64.const 0 ");
    for i in 1..locals {
        body.push_str(&format!("local.get {i} i64.add "));
    }
    wat::parse_str(format!(
        "(component (core module $m (func (export \"f\") (param i64) (result i64) (local {}) {body})) \
         (core instance (instantiate $m)))",
        "i64 ".repeat(locals - 1)
    ))
    .unwrap()
}

async fn install_bomb(data: &Path, file: &Path, env: (&str, &str)) -> std::process::Output {
    tenon_command(data)
        .env(env.0, env.1)
        .args(["plugin", "install", "--allow-unsigned"])
        .arg(file)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn compiling_a_crafted_component_is_stopped_at_its_time_and_memory_limits() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("bomb.wasm");
    std::fs::write(&file, compile_bomb(20_000)).unwrap();

    let started = std::time::Instant::now();
    let out = install_bomb(&data, &file, ("TENON_COMPILE_TIMEOUT_MS", "1000")).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("compiling it took longer than 1000 ms, the limit; it was stopped"),
        "{}",
        stderr(&out)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    let out = install_bomb(&data, &file, ("TENON_COMPILE_MEMORY_MIB", "48")).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("compiling it needed more than 48 MiB of memory, the limit"),
        "{}",
        stderr(&out)
    );
    // Nothing was installed, and the real plugins compile within the defaults.
    let listed = tenon_ok(&data, &["plugin", "list"]).await;
    assert!(!listed.contains("bomb"), "{listed}");
    tenon_ok(&data, &["plugin", "install", "--bundled"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_folder_is_its_users_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    tenon_ok(&data, &["plugin", "install", "--bundled"]).await;
    tenon_ok(&data, &["tenant", "create", "acme"]).await;
    let mut loose = Vec::new();
    fn walk(path: &Path, loose: &mut Vec<String>) {
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        if mode != want {
            loose.push(format!("{} {mode:o}", path.display()));
        }
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                walk(&entry.unwrap().path(), loose);
            }
        }
    }
    walk(&data, &mut loose);
    assert!(loose.is_empty(), "not private: {loose:?}");
    assert!(data.join("keys/cache.key").is_file());
}
