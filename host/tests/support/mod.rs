//! Helpers for tests that drive the `tenon` binary as an operator would: run a
//! command, set a tenant up against the loopback vendor sandboxes, start
//! `tenon serve` and talk to it over HTTP, wait for something to happen.
//! Processes are started with tokio, so that the in-process vendors keep serving
//! while a test waits, and are killed if a test fails.

// Each test file uses a part of these.
#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tenon_sandboxes::{Ledger, Shop};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

pub const SHOP_TOKEN: &str = "shop-token";
pub const LEDGER_TOKEN: &str = "ledger-token";
/// The admin API's operator token in the test configurations (`operator_token`).
pub const OPERATOR_TOKEN: &str = "operator-token-0123456789";

/// A `[[token]]` table for `tenon serve`'s configuration: the operator token
/// named `ops`.
pub fn operator_token() -> String {
    format!("[[token]]\nname = \"ops\"\nrole = \"operator\"\nsecret = \"{OPERATOR_TOKEN}\"\n")
}

/// `tenon --data <data>`, without the caller's `TENON_*` variables.
pub fn tenon_command(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenon"));
    command
        .arg("--data")
        .arg(data)
        .env_remove("TENON_DATA")
        .env_remove("TENON_LOG")
        .kill_on_drop(true);
    command
}

pub async fn tenon(data: &Path, args: &[&str]) -> Output {
    tenon_command(data)
        .args(args)
        .output()
        .await
        .expect("tenon runs")
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `tenon` and insists on exit code 0; returns its stdout.
pub async fn tenon_ok(data: &Path, args: &[&str]) -> String {
    let out = tenon(data, args).await;
    assert!(
        out.status.success(),
        "tenon {args:?} exited {:?}: {}",
        out.status.code(),
        stderr(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates `tenant`, enables the bundled plugins for it against `shop` and
/// `ledger`, and adds the flow `orders-to-erp` with `flow_args` (`--every 1s`,
/// `--batch-size 5`, ...). The bundled plugins must be installed.
pub async fn configure(
    data: &Path,
    tenant: &str,
    shop: &Shop,
    ledger: &Ledger,
    flow_args: &[&str],
) {
    tenon_ok(data, &["tenant", "create", tenant]).await;
    let (shop_base, shop_addr) = (
        format!("base_url={}", shop.base_url()),
        shop.addr().to_string(),
    );
    let shop_secret = format!("api_token={SHOP_TOKEN}");
    let shop_secret_host = format!("api_token={shop_addr}");
    let enable_shop = [
        "enable",
        tenant,
        "demo-shop",
        "--config",
        &shop_base,
        "--secret",
        &shop_secret,
        "--secret-host",
        &shop_secret_host,
        "--grant",
        &shop_addr,
    ];
    tenon_ok(data, &enable_shop).await;
    tenon_ok(data, &["enable", tenant, "order-to-sale"]).await;
    let (ledger_base, ledger_addr) = (
        format!("base_url={}", ledger.base_url()),
        ledger.addr().to_string(),
    );
    let ledger_secret = format!("api_token={LEDGER_TOKEN}");
    let ledger_secret_host = format!("api_token={ledger_addr}");
    let enable_ledger = [
        "enable",
        tenant,
        "demo-ledger",
        "--config",
        &ledger_base,
        "--secret",
        &ledger_secret,
        "--secret-host",
        &ledger_secret_host,
        "--grant",
        &ledger_addr,
    ];
    tenon_ok(data, &enable_ledger).await;
    let mut add = vec![
        "flow",
        "add",
        tenant,
        "orders-to-erp",
        "--from",
        "demo-shop:orders",
        "--via",
        "order-to-sale",
        "--to",
        "demo-ledger:sale-orders",
    ];
    add.extend_from_slice(flow_args);
    tenon_ok(data, &add).await;
}

/// The runs of `tenant` recorded in `data`, oldest first.
pub async fn runs(data: &Path, tenant: &str) -> Vec<Value> {
    let out = tenon_ok(
        data,
        &[
            "--json", "runs", "list", "--tenant", tenant, "--limit", "10000",
        ],
    )
    .await;
    let Ok(Value::Array(mut runs)) = serde_json::from_str(&out) else {
        panic!("runs list is not a JSON list: {out}");
    };
    runs.reverse();
    runs
}

/// Polls `done` every 50 ms until it holds; fails the test after `within`.
pub async fn eventually(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `tenon serve`, killed if dropped before [`Served::terminate`].
#[derive(Debug)]
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What it wrote to stderr so far, line by line.
    stderr: Arc<Mutex<Vec<String>>>,
    /// What it wrote to stdout so far, line by line, the first one included.
    stdout: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
    /// Sent as the bearer token by [`Served::get`] and [`Served::post`].
    token: String,
}

impl Served {
    /// Starts `tenon <args>`, whose args name `serve` (listening on
    /// `127.0.0.1:0`, in `args` or the config), and waits for the line that says
    /// where it listens.
    pub async fn start(data: &Path, args: &[&str]) -> Served {
        let mut child = tenon_command(data)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tenon serve starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err_lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let mut out_lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), out_lines.next_line())
            .await
            .expect("tenon serve says where it listens within 30 s")
            .expect("stdout")
            .unwrap_or_else(|| {
                panic!(
                    "tenon serve exited before listening: {}",
                    stderr.lock().unwrap().join("\n")
                )
            });
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_owned();
        // Keep reading stdout so the server never blocks on a full pipe.
        let stdout = Arc::new(Mutex::new(vec![first]));
        let sink = Arc::clone(&stdout);
        tokio::spawn(async move {
            while let Ok(Some(line)) = out_lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Served {
            child,
            url,
            stderr,
            stdout,
            http: reqwest::Client::new(),
            token: OPERATOR_TOKEN.to_owned(),
        }
    }

    /// Sends `method path` with `token` (none: no Authorization header) and an
    /// optional body (JSON, or raw bytes); returns the status and the answer
    /// parsed as JSON (`Null` if it is not).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Body>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Some(Body::Json(value)) => request
                .header("content-type", "application/json")
                .body(value.to_string()),
            Some(Body::Bytes(bytes)) => request
                .header("content-type", "application/wasm")
                .body(bytes),
            None => request,
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// What it wrote to stdout so far, line by line.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub async fn post(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Kills the process with SIGKILL, as a crash would, and waits for it.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("tenon serve is killed");
    }

    /// Sends SIGTERM.
    pub async fn signal_terminate(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Sends SIGTERM and waits (at most `within`) for the process to exit;
    /// returns its exit status and everything it wrote to stderr.
    pub async fn terminate(mut self, within: Duration) -> (ExitStatus, Vec<String>) {
        self.signal_terminate().await;
        self.wait(within).await
    }

    /// Waits (at most `within`) for the process to exit.
    pub async fn wait(&mut self, within: Duration) -> (ExitStatus, Vec<String>) {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("tenon serve did not exit within {within:?}"))
            .expect("wait");
        // Let the reader take the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status, self.stderr.lock().unwrap().clone())
    }
}

/// A request body for [`Served::call`].
#[derive(Debug)]
pub enum Body {
    Json(Value),
    Bytes(Vec<u8>),
}

/// The value of the sample `key` (`name{labels}`) in a Prometheus exposition.
pub fn metric(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
}

/// The component of the test guest `tests/guests/ledger-v2`: `demo-ledger`
/// 0.2.0, which declares one more egress host than the bundled 0.1.0.
///
/// The guests are built by the build script of `tenon-tests`. A plain `cargo
/// test` at the root builds every test target, that script included, before it
/// runs any test, but `cargo test -p tenon` does not build `tenon-tests`, and
/// `tenon` cannot take it as a dev-dependency (it depends on `tenon`). So the
/// guest is built here with the very `cargo build` that script runs, in the same
/// target folder (`target/wasm`, not the outer build's, so it never waits on the
/// outer build's lock): a no-op when it is up to date, whatever the build order.
pub async fn ledger_v2() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate has a parent folder");
    let target_dir = root.join("target").join("wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(&cargo);
    build
        .current_dir(root)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args(["-p", "guest-ledger-v2", "--target-dir"])
        .arg(&target_dir)
        .stdout(Stdio::null());
    // Settings of the outer (native) build must not reach the guest's build.
    for var in [
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
    ] {
        build.env_remove(var);
    }
    let status = build
        .status()
        .await
        .unwrap_or_else(|e| panic!("could not run `{cargo}` to build guest-ledger-v2: {e}"));
    assert!(
        status.success(),
        "building tests/guests/ledger-v2 for wasm32-wasip2 failed ({status}); \
         `rustup target add wasm32-wasip2` if the target is missing"
    );
    let wasm = target_dir.join("wasm32-wasip2/release/guest_ledger_v2.wasm");
    let wasm = std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    // Signed with the repository's bundle key, as the bundled demo-ledger is.
    let key = std::fs::read_to_string(root.join("plugins/bundled.key")).expect("the bundle key");
    let key = tenon_sign::SecretKey::from_text(&key).expect("the bundle key is a key");
    tenon_sign::sign(&wasm, &key).expect("the guest can be signed")
}
