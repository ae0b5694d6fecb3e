//! The author's loop from a clean clone, as a third party goes through it:
//! `tenon new connector my-shop`, `cargo test` in the new crate (its test runs
//! the component in a real host against a scripted vendor, through
//! `tenon-test`), `cargo build --target wasm32-wasip2 --release`, install,
//! enable, run a flow into the demo ledger. And `tenon new transform`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tenon_sandboxes::{Ledger, Shop, demo_orders};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn cargo(krate: &Path, args: &[&str], target: &Path) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", target)
        // The harness builds the component into the guests' folder, where the
        // SDK is compiled for wasm32 already.
        .env("TENON_TEST_TARGET_DIR", root().join("target/wasm"))
        .env("TENON_BIN", env!("CARGO_BIN_EXE_tenon"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        // A second copy of the harness (wasmtime and all) is built here; without
        // debug info and incremental state it takes a third of the disk.
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .unwrap()
}

fn tenon(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tenon"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tenon {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tenon new KIND NAME` in `work`, with the same dependency versions as this
/// workspace (so the build needs no index lookup).
fn new_crate(work: &Path, kind: &str, name: &str) -> PathBuf {
    let krate = work.join(name);
    let out = tenon(
        work,
        &["new", kind, name, "--path", krate.to_str().unwrap()],
    );
    assert!(out.contains(&format!("`{name}`")), "{out}");
    std::fs::copy(root().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    krate
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `cargo build --target wasm32-wasip2 --release`, as the guide says, into the
/// guests' folder; the component `lib_name.wasm`.
fn build_component(krate: &Path, lib_name: &str) -> PathBuf {
    let target = root().join("target/wasm");
    let built = cargo(
        krate,
        &["build", "--target", "wasm32-wasip2", "--release"],
        &target,
    );
    assert_ok(&built, "cargo build --target wasm32-wasip2");
    target.join(format!("wasm32-wasip2/release/{lib_name}.wasm"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_connector_tests_builds_installs_and_runs() {
    let work = tempfile::tempdir().unwrap();
    let krate = new_crate(work.path(), "connector", "my-shop");

    // The crate is the guide's connector, word for word.
    let guide = std::fs::read_to_string(root().join("sdk/README.md")).unwrap();
    let fence = "```rust file=src/lib.rs\n";
    let start = guide.find(fence).unwrap() + fence.len();
    let end = start + guide[start..].find("\n```").unwrap();
    let lib = std::fs::read_to_string(krate.join("src/lib.rs")).unwrap();
    assert_eq!(lib, format!("{}\n", &guide[start..end]));

    // Its own tests pass against the harness: two tests, a real host each.
    let target = root().join("target/author");
    let tested = tokio::task::spawn_blocking({
        let (krate, target) = (krate.clone(), target.clone());
        move || cargo(&krate, &["test"], &target)
    })
    .await
    .unwrap();
    assert_ok(&tested, "cargo test in the new crate");
    let report = String::from_utf8_lossy(&tested.stdout);
    assert!(report.contains("test result: ok. 2 passed"), "{report}");

    // Built as the guide says, it installs and moves the shop's orders.
    let wasm = build_component(&krate, "my_shop");

    let shop = Shop::start("shop-token", demo_orders(9)).await.unwrap();
    let ledger = Ledger::start("ledger-token").await.unwrap();
    let data = work.path().join("data");
    let (shop_addr, ledger_addr) = (shop.addr().to_string(), ledger.addr().to_string());
    let (shop_url, ledger_url) = (shop.base_url(), ledger.base_url());
    let run = tokio::task::spawn_blocking(move || {
        let installed = tenon(
            &data,
            &[
                "plugin",
                "install",
                "--allow-unsigned",
                wasm.to_str().unwrap(),
            ],
        );
        assert!(installed.contains("Installed my-shop 0.1.0"), "{installed}");
        let inspect = tenon(&data, &["plugin", "inspect", "my-shop"]);
        assert!(inspect.contains("Orders from my storefront."), "{inspect}");
        tenon(&data, &["plugin", "install", "--bundled"]);
        tenon(&data, &["tenant", "create", "acme"]);
        // A vendor's plugin: its address as `base_url`, its token as the
        // `api_token` secret bound to that address, which is granted.
        let enable = |plugin: &str, url: &str, token: &str, addr: &str| {
            let (base, secret, host) = (
                format!("base_url={url}"),
                format!("api_token={token}"),
                format!("api_token={addr}"),
            );
            tenon(
                &data,
                &[
                    "enable",
                    "acme",
                    plugin,
                    "--config",
                    &base,
                    "--secret",
                    &secret,
                    "--secret-host",
                    &host,
                    "--grant",
                    addr,
                ],
            );
        };
        enable("my-shop", &shop_url, "shop-token", &shop_addr);
        tenon(&data, &["enable", "acme", "order-to-sale"]);
        enable("demo-ledger", &ledger_url, "ledger-token", &ledger_addr);
        tenon(
            &data,
            &[
                "flow",
                "add",
                "acme",
                "shop-to-erp",
                "--from",
                "my-shop:orders",
                "--via",
                "order-to-sale",
                "--to",
                "demo-ledger:sale-orders",
                "--batch-size",
                "4",
            ],
        );
        tenon(&data, &["flow", "run", "acme", "shop-to-erp"])
    })
    .await
    .unwrap();
    assert!(run.contains("succeeded: 9 read, 9 written"), "{run}");
    assert_eq!(ledger.sales_orders().len(), 9);
}

#[test]
fn a_new_transform_passes_its_test_and_installs() {
    let work = tempfile::tempdir().unwrap();
    let krate = new_crate(work.path(), "transform", "my-map");
    let tested = cargo(&krate, &["test"], &root().join("target/author"));
    assert_ok(&tested, "cargo test in the new transform");
    let wasm = build_component(&krate, "my_map");
    let data = work.path().join("data");
    let installed = tenon(
        &data,
        &[
            "plugin",
            "install",
            "--allow-unsigned",
            wasm.to_str().unwrap(),
        ],
    );
    assert!(
        installed.contains("Installed my-map 0.1.0 (transform"),
        "{installed}"
    );

    // A folder that is not empty is left alone.
    let out = Command::new(env!("CARGO_BIN_EXE_tenon"))
        .args(["new", "transform", "my-map", "--path"])
        .arg(&krate)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
}
