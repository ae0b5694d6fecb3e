//! The README's two set-up commands share one build: `cargo run -p tenon -- demo`
//! builds the host alone, `cargo test` the default members with their
//! dev-dependencies. Cargo compiles a crate again whenever its features differ
//! between the two, and for wasmtime that is about ten minutes on two cores. This
//! test asks Cargo (`cargo tree`, which builds nothing) for the features of every
//! crate in both builds and requires each crate the demo builds to get the very
//! same features in the test build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// `name version` -> the feature sets Cargo resolves for it (one per copy: a crate
/// built for the target and for build scripts or macros may appear twice).
fn features(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--locked", "--offline", "--prefix", "none"])
        .args(["--format", "{p}|{f}"])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut crates: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        // `name v1.2.3 (proc-macro)` or `name v1.2.3 (/path)`: name and version.
        let id: Vec<&str> = package.split_whitespace().take(2).collect();
        let features = features.trim_end_matches(" (*)").trim().to_owned();
        crates.entry(id.join(" ")).or_default().insert(features);
    }
    crates
}

#[test]
fn cargo_test_after_the_demo_compiles_no_dependency_again() {
    let demo = features(&["-p", "tenon", "--edges", "normal,build"]);
    let tests = features(&["--edges", "normal,build,dev"]);
    assert!(
        demo.keys().any(|id| id.starts_with("wasmtime ")),
        "the demo build has wasmtime: {:?}",
        demo.keys().collect::<Vec<_>>()
    );
    let differing: Vec<String> = demo
        .iter()
        .filter(|(id, sets)| tests.get(*id) != Some(sets))
        .map(|(id, sets)| format!("{id}: demo {sets:?}, test {:?}", tests.get(id)))
        .collect();
    assert!(
        differing.is_empty(),
        "these crates get other features in `cargo test` than in `cargo run -p tenon`, \
         so they (and all that depends on them) compile twice:\n{}",
        differing.join("\n")
    );
}
