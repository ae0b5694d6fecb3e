//! The component under test, and a Tenon host of its own to run it in.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The tenant a [`Host`] creates and enables the plugin for.
pub const TENANT: &str = "test";

/// A built component (`.wasm`).
#[derive(Debug, Clone)]
pub struct Plugin {
    pub wasm: PathBuf,
}

impl Plugin {
    /// Builds the crate whose test is running (`CARGO_MANIFEST_DIR`) for
    /// `wasm32-wasip2`, once per test process, into `target/tenon-test` (its
    /// own folder: the `cargo test` that runs this holds `target`).
    pub fn build() -> Plugin {
        static BUILT: OnceLock<PathBuf> = OnceLock::new();
        let wasm = BUILT.get_or_init(|| {
            let dir = std::env::var("CARGO_MANIFEST_DIR")
                .expect("Plugin::build runs under cargo test (CARGO_MANIFEST_DIR)");
            build(Path::new(&dir))
        });
        Plugin { wasm: wasm.clone() }
    }

    /// A component built elsewhere.
    pub fn at(wasm: impl Into<PathBuf>) -> Plugin {
        Plugin { wasm: wasm.into() }
    }
}

fn build(krate: &Path) -> PathBuf {
    let target = std::env::var_os("TENON_TEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| krate.join("target/tenon-test"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(krate)
        .args(["build", "--lib", "--release", "--target", "wasm32-wasip2"])
        .args(["--message-format", "json-render-diagnostics"])
        .env("CARGO_TARGET_DIR", &target)
        // The test's own flags (coverage, sanitizers) are not the component's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "building the component failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The last artifact of this crate with a `.wasm` file is the component.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            m["filenames"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from)
        })
        .next()
        .expect("the build made a .wasm file: is the crate a cdylib?")
}

/// What a plugin is enabled with: config, secrets bound to hosts, egress grants.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    args: Vec<String>,
}

impl Settings {
    pub fn new() -> Settings {
        Settings::default()
    }

    /// A config value.
    pub fn config(mut self, key: &str, value: &str) -> Settings {
        self.args
            .extend(["--config".into(), format!("{key}={value}")]);
        self
    }

    /// A secret, bound to `host` (`127.0.0.1:8080`), which is also granted.
    pub fn secret(self, name: &str, value: &str, host: &str) -> Settings {
        let mut settings = self.grant(host);
        settings.args.extend([
            "--secret".into(),
            format!("{name}={value}"),
            "--secret-host".into(),
            format!("{name}={host}"),
        ]);
        settings
    }

    /// A host the plugin may reach.
    pub fn grant(mut self, host: &str) -> Settings {
        let grant = ["--grant".to_owned(), host.to_owned()];
        if !self.args.windows(2).any(|w| w == grant) {
            self.args.extend(grant);
        }
        self
    }

    /// Any other `tenon enable` flag (`--max-requests`, `--http-timeout-ms`, ...).
    pub fn flag(mut self, flag: &str, value: &str) -> Settings {
        self.args.extend([flag.to_owned(), value.to_owned()]);
        self
    }
}

/// A record as the plugin returned it, its payload decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    #[serde(default = "upsert")]
    pub op: String,
    pub payload: Value,
    #[serde(default)]
    pub source_time: Option<String>,
}

fn upsert() -> String {
    "upsert".into()
}

impl Record {
    /// A record to write: an upsert of `payload` at `key`.
    pub fn upsert(key: &str, payload: Value) -> Record {
        Record {
            key: key.into(),
            op: upsert(),
            payload,
            source_time: None,
        }
    }
}

/// One page `read` returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    pub next_cursor: Option<String>,
    pub more: bool,
}

/// One record's outcome of `write`: the vendor's id, or the error as the host
/// recorded it (`kind` is `retryable`, `rate-limited`, `permanent` or `denied`).
pub type Outcome = Result<Option<String>, Value>;

/// A call that failed: the host's exit code and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit_code: i32,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}: {}", self.exit_code, self.message)
    }
}

/// A Tenon host on a temporary data folder with the plugin installed (unsigned:
/// it is the author's own build) and tenant [`TENANT`] created.
#[derive(Debug)]
pub struct Host {
    data: tempfile::TempDir,
    bin: PathBuf,
    plugin: String,
}

impl Host {
    pub fn new(plugin: &Plugin) -> Host {
        let bin = std::env::var_os("TENON_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| "tenon".into());
        let data = tempfile::tempdir().expect("a temporary folder");
        let mut host = Host {
            data,
            bin,
            plugin: String::new(),
        };
        let wasm = plugin.wasm.display().to_string();
        let installed = host.ok(&["--json", "plugin", "install", "--allow-unsigned", &wasm]);
        let installed: Value = serde_json::from_str(&installed).expect("install prints JSON");
        host.plugin = installed[0]["id"]
            .as_str()
            .expect("install names the plugin")
            .to_owned();
        host.ok(&["tenant", "create", TENANT]);
        host
    }

    /// The plugin's name, as its `describe` gave it.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Runs `tenon` on this host's data folder.
    pub fn tenon(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("--data")
            .arg(self.data.path())
            .args(args)
            .env_remove("TENON_DATA")
            .env_remove("TENON_SERVER")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "could not run `{}` ({e}): install it (cargo install --path <tenon>/host) or set TENON_BIN",
                    self.bin.display()
                )
            })
    }

    fn call(&self, args: &[&str]) -> Result<String, Failure> {
        let out = self.tenon(args);
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(Failure {
            exit_code: out.status.code().unwrap_or(-1),
            message: String::from_utf8_lossy(&out.stderr)
                .trim()
                .trim_start_matches("error: ")
                .to_owned(),
        })
    }

    fn ok(&self, args: &[&str]) -> String {
        self.call(args)
            .unwrap_or_else(|f| panic!("tenon {}: {f}", args.join(" ")))
    }

    /// Enables the plugin for [`TENANT`]; again replaces the settings.
    pub fn enable(&self, settings: Settings) {
        let mut args = vec!["enable", TENANT, self.plugin.as_str()];
        args.extend(settings.args.iter().map(String::as_str));
        self.ok(&args);
    }

    /// `check`.
    pub fn check(&self) -> Result<(), Failure> {
        self.call(&["check", TENANT, &self.plugin]).map(drop)
    }

    /// One `read` of `stream` after `cursor`.
    pub fn read(&self, stream: &str, cursor: Option<&str>, limit: u32) -> Result<Page, Failure> {
        let limit = limit.to_string();
        let mut args = vec!["--json", "preview", TENANT, &self.plugin, stream];
        args.extend(["--limit", &limit]);
        if let Some(cursor) = cursor {
            args.extend(["--cursor", cursor]);
        }
        let page: Value = serde_json::from_str(&self.call(&args)?).expect("preview prints JSON");
        let records = page["records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| Record {
                key: r["key"].as_str().unwrap_or_default().to_owned(),
                op: r["op"].as_str().unwrap_or("upsert").to_owned(),
                payload: r["payload"]
                    .as_str()
                    .and_then(|p| serde_json::from_str(p).ok())
                    .unwrap_or(Value::Null),
                source_time: r["source_time"].as_str().map(str::to_owned),
            })
            .collect();
        Ok(Page {
            records,
            next_cursor: page["next_cursor"].as_str().map(str::to_owned),
            more: page["more"].as_bool().unwrap_or(false),
        })
    }

    /// Every record of `stream` from the start, reading pages of `limit` as
    /// the host does: the cursor of each page feeds the next read, while
    /// `more`. Panics after 10,000 pages (a cursor that does not move).
    pub fn read_all(&self, stream: &str, limit: u32) -> Result<Vec<Record>, Failure> {
        let mut cursor: Option<String> = None;
        let mut all = Vec::new();
        for _ in 0..10_000 {
            let page = self.read(stream, cursor.as_deref(), limit)?;
            assert!(
                page.records.len() <= limit as usize,
                "a page of {} records for a limit of {limit}",
                page.records.len()
            );
            all.extend(page.records);
            if !page.more || page.next_cursor.is_none() {
                return Ok(all);
            }
            cursor = page.next_cursor;
        }
        panic!("reading `{stream}` does not end: the cursor does not move");
    }

    /// One `write` of `records` to `stream`: each record's outcome, or the
    /// call's failure.
    pub fn write(&self, stream: &str, records: &[Record]) -> Result<Vec<Outcome>, Failure> {
        let file = self.data.path().join("write.json");
        std::fs::write(&file, serde_json::to_vec(records).unwrap()).expect("the records file");
        let file = file.display().to_string();
        let args = ["--json", "write", TENANT, &self.plugin, stream, &file];
        let out = self.tenon(&args);
        // Exit 5 with JSON on stdout: some records failed; without: the call.
        let rows: Option<Vec<Value>> = serde_json::from_slice(&out.stdout).ok();
        match rows {
            Some(rows) => Ok(rows
                .into_iter()
                .map(|row| match row.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(row["id"].as_str().map(str::to_owned)),
                })
                .collect()),
            None => Err(Failure {
                exit_code: out.status.code().unwrap_or(-1),
                message: String::from_utf8_lossy(&out.stderr)
                    .trim()
                    .trim_start_matches("error: ")
                    .to_owned(),
            }),
        }
    }
}
