//! `sdk/README.md` is executable documentation: this test takes the connector it
//! shows (its `Cargo.toml` and `src/lib.rs` blocks), builds it as a crate of its
//! own outside the workspace, then runs the guide's operator commands verbatim
//! with the `tenon` binary against the loopback shop and ledger sandboxes.

use std::path::{Path, PathBuf};
use std::process::Command;
use tenon_sandboxes::{Ledger, Shop, demo_orders};

/// The fenced block whose info string is `{lang} file={file}`.
fn block(readme: &str, lang: &str, file: &str) -> String {
    let fence = format!("```{lang} file={file}\n");
    let start = readme
        .find(&fence)
        .unwrap_or_else(|| panic!("sdk/README.md has no {fence:?} block"))
        + fence.len();
    let end = start + readme[start..].find("\n```").expect("block closes");
    readme[start..=end].to_owned()
}

/// The shell lines of the `sh` block that follows `heading`, comments dropped.
fn commands(readme: &str, heading: &str) -> Vec<String> {
    let section = &readme[readme.find(heading).expect("heading present")..];
    let start = section.find("```sh\n").expect("sh block") + 6;
    let end = start + section[start..].find("```").unwrap();
    section[start..end]
        .lines()
        .map(|l| l.split(" #").next().unwrap().trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_guide_builds_installs_and_runs_a_connector() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let readme = std::fs::read_to_string(root.join("sdk/README.md")).unwrap();
    let work = tempfile::tempdir().unwrap();

    // 1-2. The crate, exactly as the guide writes it; only the path to the SDK
    // differs, because this checkout is not cloned next to the temp folder.
    let krate = work.path().join("my-shop");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let manifest = block(&readme, "toml", "Cargo.toml");
    assert!(
        manifest.contains(r#"tenon-sdk = { path = "../tenon/sdk" }"#),
        "{manifest}"
    );
    let manifest = manifest.replace("../tenon/sdk", &root.join("sdk").display().to_string());
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(
        krate.join("src/lib.rs"),
        block(&readme, "rust", "src/lib.rs"),
    )
    .unwrap();
    // Same dependency versions as the workspace, so the build needs no index lookup.
    std::fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();

    // 3. Build, as the guide says, into the workspace's guest target folder so the
    // SDK's dependencies are already compiled.
    let target = root.join("target/wasm");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--target", "wasm32-wasip2", "--release"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .unwrap();
    assert!(status.success(), "the guide's connector does not build");
    let wasm: PathBuf = target.join("wasm32-wasip2/release/my_shop.wasm");
    assert_eq!(
        &std::fs::read(&wasm).unwrap()[..8],
        b"\0asm\x0d\0\x01\0",
        "a component"
    );

    // 4-5. The author's and the operator's commands, verbatim but for the
    // sandboxes' real addresses.
    let shop = Shop::start("shop-token", demo_orders(7)).await.unwrap();
    let ledger = Ledger::start("ledger-token").await.unwrap();
    let data = work.path().join("data");
    let mut lines = commands(&readme, "## 4. Sign");
    lines.extend(commands(&readme, "## 5. Install and run"));
    assert!(lines.len() >= 10, "{lines:?}");
    let (shop_addr, ledger_addr) = (shop.addr().to_string(), ledger.addr().to_string());
    let cwd = work.path().to_owned();
    tokio::task::spawn_blocking(move || {
        for line in lines {
            assert!(
                !line.contains(['"', '\'', '\\', '|', '>']),
                "a plain command: {line}"
            );
            let line = line
                .replace("127.0.0.1:8080", &shop_addr)
                .replace("127.0.0.1:8081", &ledger_addr)
                .replace(
                    "target/wasm32-wasip2/release/my_shop.wasm",
                    &wasm.display().to_string(),
                );
            let mut words = line.split_whitespace();
            assert_eq!(words.next(), Some("tenon"), "{line}");
            let out = Command::new(env!("CARGO_BIN_EXE_tenon"))
                .current_dir(&cwd)
                .arg("--data")
                .arg(&data)
                .args(words)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "`{line}` failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    })
    .await
    .unwrap();

    // The guide's flow moved every order of the shop into the ledger.
    let books = ledger.sales_orders();
    assert_eq!(books.len(), 7, "{books:?}");
    assert!(books.iter().all(|s| s.external_ref.starts_with("shop:")));
}
