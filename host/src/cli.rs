//! The `tenon` command line: one subcommand per operator action, thin over
//! [`Tenon`]. Output is a short human summary, or JSON with `--json`.
//!
//! Exit codes: 0 success; 1 internal error; 2 usage error; 3 something named was
//! not found; 4 input refused (nothing changed); 5 a plugin call or a flow run
//! failed; 6 `reconcile` found differences; 7 a flow run succeeded but
//! dead-lettered records.
//!
//! Times are printed as RFC 3339 in UTC (`--json` keeps Unix milliseconds).
//!
//! With `--server URL --token TOKEN`, the commands that an operator needs on a
//! running server act through its admin API ([`crate::client`]) instead of the
//! data folder, printing the same output with the same exit codes (a refused
//! token is 4).

use crate::capability::secret::Secret;
use crate::delivery::{AuditEntry, DeadLetter, Retry};
use crate::flow::{
    CronExpr, DEFAULT_BATCH_SIZE, Endpoint, Flow, Interval, Pin, Run, RunStatus, Schedule,
};
use crate::host::DEFAULT_DATA_DIR;
use crate::limits::LimitOverrides;
use crate::plugin::Installed;
use crate::reconcile::Reconciliation;
use crate::server::api::FlowRow;
use crate::tenant::{Enablement, EnablementView};
use crate::{Error, Tenon, outln};
use clap::{Parser, Subcommand};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "tenon",
    version,
    about = "WebAssembly plugin host for commerce connectors"
)]
pub struct Cli {
    /// Data folder: state database, installed components, compile cache.
    #[arg(long, global = true, env = "TENON_DATA", default_value = DEFAULT_DATA_DIR)]
    pub data: PathBuf,
    /// Where the host's keys live (the keys of sealed secrets and of the compile
    /// cache's MACs): `<data>/keys` unless given. Keep them apart from backups
    /// of the data folder to keep those backups' secrets sealed.
    #[arg(long, global = true, env = "TENON_KEYS", value_name = "DIR")]
    pub keys: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Act through the admin API of a running `tenon serve` at this URL
    /// (`http://127.0.0.1:7878`) instead of on the data folder; for plugin
    /// list, tenant list, enable, disable, flow list|run, runs list, retries,
    /// dlq, reconcile and audit.
    #[arg(long, global = true, env = "TENON_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The bearer token for --server.
    #[arg(long, global = true, env = "TENON_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Log filter for stderr (`warn`, `info`, `tenon=debug`, ...). Also `TENON_LOG`.
    #[arg(long, global = true, env = "TENON_LOG", default_value = "warn")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install, list, inspect and remove plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Create and list tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Enable a plugin for a tenant, with its config, secrets, egress grants and limits.
    /// Running it again replaces the settings.
    Enable {
        tenant: String,
        plugin: String,
        /// A config value, `key=value`; repeat for more.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        config: Vec<(String, String)>,
        /// A secret, `name=value`; repeat for more. Prefer --secret-file: arguments
        /// are visible to other local users.
        #[arg(long = "secret", value_name = "NAME=VALUE", value_parser = key_value)]
        secrets: Vec<(String, String)>,
        /// A secret read from a file (trailing newline dropped), `name=path`.
        #[arg(long = "secret-file", value_name = "NAME=PATH", value_parser = key_value)]
        secret_files: Vec<(String, String)>,
        /// A host a secret is for, `name=host[:port]`; repeat for more. The host
        /// sends a secret to no other host, and only over https unless the host
        /// is a loopback address or --secret-allow-http names the secret.
        #[arg(long = "secret-host", value_name = "NAME=HOST[:PORT]", value_parser = key_value)]
        secret_hosts: Vec<(String, String)>,
        /// Lets the named secret go over plain http to its hosts.
        #[arg(long = "secret-allow-http", value_name = "NAME")]
        secret_allow_http: Vec<String>,
        /// A host the plugin may reach, `host` or `host:port`; repeat for more.
        #[arg(long = "grant", value_name = "HOST[:PORT]")]
        grants: Vec<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Disable a plugin for a tenant; its settings and secrets are forgotten.
    Disable { tenant: String, plugin: String },
    /// Ask a connector whether it reaches its vendor with the tenant's settings.
    Check { tenant: String, plugin: String },
    /// Read one page of a connector's stream for a tenant, without running a flow
    /// or moving any cursor.
    Preview {
        tenant: String,
        plugin: String,
        stream: String,
        /// Start after this cursor (default: from the beginning).
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// Check each record against the stream's JSON Schema, as a flow
        /// does: print why each one that does not match would be
        /// dead-lettered, and exit 5 if any.
        #[arg(long)]
        validate: bool,
    },
    /// Write records to a connector's writable stream for a tenant, once,
    /// without a flow (no cursor, retries or dead letters): to try a
    /// connector. FILE holds a JSON list of `{"key": "1001", "payload": {...}}`
    /// (optional `"op": "delete"` and `"source_time"`); `-` reads standard
    /// input. Prints each record's outcome; exits 5 if any failed. Audited.
    Write {
        tenant: String,
        plugin: String,
        stream: String,
        file: PathBuf,
    },
    /// Define, list and run flows.
    #[command(subcommand)]
    Flow(FlowCommand),
    /// Show run history.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Dead letters: records that will not be delivered without an operator.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Show a flow's retry queue: records waiting for their next attempt.
    Retries { tenant: String, flow: String },
    /// Compare a flow's source (after its transforms) with its destination; exits
    /// 6 when they differ.
    Reconcile {
        tenant: String,
        flow: String,
        /// Compare every record the destination holds, not only those this
        /// flow wrote: another flow's records count as `extra`.
        #[arg(long)]
        whole: bool,
    },
    /// Inspect and edit a tenant's id map.
    #[command(subcommand)]
    Idmap(IdmapCommand),
    /// Trust publishers' keys: components they sign may install.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Start a plugin crate in ./NAME (or --path): a connector with a test that
    /// runs it in a real host against a scripted vendor (`cargo test`), or a
    /// transform with a unit test. It depends on the SDK by path.
    New {
        kind: crate::scaffold::Kind,
        name: String,
        /// The folder to create (default: ./NAME); must not exist or be empty.
        #[arg(long)]
        path: Option<PathBuf>,
        /// Tenon's `sdk` folder (default: the checkout this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Make a signing key for publishing plugins: PATH gets the secret key
    /// (0600), PATH.pub the public key operators trust.
    Keygen { path: PathBuf },
    /// Sign a component with your secret key, replacing the file (or --out).
    Sign {
        #[arg(long)]
        key: PathBuf,
        component: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show the audit log of operator decisions.
    Audit,
    /// Inspect the data folder itself.
    #[command(subcommand)]
    State(StateCommand),
    /// Serve the loopback vendor sandboxes (a shop with demo orders, an ERP ledger,
    /// a PIM with demo products, a 3PL warehouse, a Magento 2 store) until Ctrl-C,
    /// to try plugins against: see sdk/README.md.
    Sandbox(crate::demo::Sandboxes),
    /// Run as a server until SIGTERM or Ctrl-C: the scheduler runs flows on their
    /// schedules, and an HTTP listener answers /healthz, /readyz, /metrics and
    /// the admin API (/api/v1/). It holds the data folder while it runs.
    Serve(crate::server::config::ServeArgs),
    /// Run the demo: a shop, an ERP ledger and a 3PL as loopback sandboxes, the
    /// bundled plugins, three flows between them, reconciled. Uses (and first
    /// empties) `<data>/demo`.
    Demo,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Read every entry of the state as its type, open every sealed secret and
    /// verify every component file, changing nothing; exits 1 and lists each
    /// problem (tree, key, cause) if there is one. Needs the folder itself: stop
    /// the server first.
    Check,
    /// Write the whole data folder (state, components, the keys of sealed
    /// secrets: keep the file as safe as the folder) to FILE, 0600. Consistent:
    /// this process holds the folder while it writes.
    Backup { file: PathBuf },
    /// Restore a backup into the data folder, which must hold no state and no
    /// components yet; the file is checked whole before anything is written.
    Restore { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install components (`.wasm`), or with --bundled the plugins built into tenon.
    /// A component must be signed by a trusted publisher (`tenon trust add`)
    /// unless --allow-unsigned, and no older than the current version of its
    /// name unless --allow-downgrade.
    Install {
        #[arg(required_unless_present = "bundled")]
        files: Vec<PathBuf>,
        /// Install the bundled first-party plugins.
        #[arg(long, conflicts_with = "files")]
        bundled: bool,
        /// Install components no key signed (never under a name a publisher owns).
        #[arg(long)]
        allow_unsigned: bool,
        /// Install a version older than the current one, making it current.
        #[arg(long)]
        allow_downgrade: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List installed plugins.
    List,
    /// Show a plugin's description: streams, config keys, secrets, egress it needs.
    Inspect { plugin: String },
    /// Remove a plugin no tenant has enabled.
    Remove { plugin: String },
    /// List every installed version of a plugin, marking the current one.
    Versions { plugin: String },
    /// Make the version installed before the current one current again (flows
    /// that pin a version keep it).
    Rollback { plugin: String },
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a publisher's public key (`tenon-ed25519:...`, or a file holding it).
    Add { name: String, key: String },
    /// List trusted publishers, and whose each plugin name is.
    List,
    /// Stop trusting a publisher: what it signs no longer installs (installed
    /// plugins stay, their names still its own).
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create { tenant: String },
    /// List tenants and the plugins each has enabled.
    List,
    /// Show, or with options set, what the operator allows a tenant: the hosts
    /// a tenant token may grant, the non-public networks its plugins may reach,
    /// and the limits a tenant token may not go above. Options replace the
    /// whole policy.
    Policy {
        tenant: String,
        /// A host a tenant token may grant, `host` or `host:port`; repeat for more.
        #[arg(long = "allow-egress", value_name = "HOST[:PORT]")]
        egress: Vec<String>,
        /// A loopback, private or link-local network the tenant's plugins may
        /// connect to, `10.1.0.0/16`; repeat for more.
        #[arg(long = "allow-network", value_name = "CIDR")]
        networks: Vec<ipnet::IpNet>,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// Limits as flags: fuel, time, memory, HTTP.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct LimitArgs {
    /// Fuel per call (about one unit per WebAssembly instruction).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Wall-clock time per call, in milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Linear memory per call, over all its memories and tables, in MiB.
    #[arg(long)]
    pub memory_mib: Option<u64>,
    /// Timeout of one outgoing HTTP request, in milliseconds.
    #[arg(long)]
    pub http_timeout_ms: Option<u64>,
    /// Largest HTTP response body handed to the plugin, in bytes.
    #[arg(long)]
    pub max_response_bytes: Option<u64>,
    /// Outgoing HTTP requests allowed within one call.
    #[arg(long)]
    pub max_requests: Option<u32>,
}

impl From<LimitArgs> for LimitOverrides {
    fn from(a: LimitArgs) -> Self {
        LimitOverrides {
            fuel: a.fuel,
            timeout_ms: a.timeout_ms,
            memory_mib: a.memory_mib,
            http_timeout_ms: a.http_timeout_ms,
            max_response_bytes: a.max_response_bytes,
            max_requests: a.max_requests,
        }
    }
}

#[derive(Debug, Subcommand)]
// Parsed once per process: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum FlowCommand {
    /// Define a flow (or redefine it; its cursor is kept).
    Add {
        tenant: String,
        name: String,
        /// Source, `plugin:stream`.
        #[arg(long)]
        from: Endpoint,
        /// A transform plugin; repeat to chain, applied in order.
        #[arg(long = "via")]
        via: Vec<String>,
        /// Destination, `plugin:stream`.
        #[arg(long)]
        to: Endpoint,
        /// Records per batch.
        #[arg(long, default_value_t = DEFAULT_BATCH_SIZE)]
        batch_size: u32,
        /// Delivery attempts per record before it is dead-lettered.
        #[arg(long, default_value_t = crate::delivery::DEFAULT_MAX_ATTEMPTS)]
        max_attempts: u32,
        /// First retry delay in milliseconds; doubles with each attempt, with jitter.
        #[arg(long, default_value_t = crate::delivery::DEFAULT_RETRY_BASE_MS)]
        retry_base_ms: u64,
        /// How long one run may take, in milliseconds; the next run continues.
        #[arg(long, default_value_t = crate::limits::DEFAULT_MAX_RUN_MS)]
        max_run_ms: u64,
        /// Under `tenon serve`, run every so often: `30s`, `5m`, `1h` (at least 1s).
        #[arg(long, value_name = "INTERVAL", conflicts_with = "cron")]
        every: Option<Interval>,
        /// Under `tenon serve`, run at the times of a cron expression, in UTC:
        /// `"*/5 * * * *"` (minute hour day month weekday).
        #[arg(long, value_name = "EXPR")]
        cron: Option<CronExpr>,
        /// Run a plugin of the flow at an installed version, `plugin@version`,
        /// instead of following its current version; repeat for more plugins.
        #[arg(long = "pin", value_name = "PLUGIN@VERSION")]
        pins: Vec<Pin>,
    },
    /// List flows with their cursors.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Run a flow once, now.
    Run { tenant: String, name: String },
    /// Show a flow's cursor (where its next read starts), set it, or reset it
    /// so the next run reads the source from the start (a backfill: versions
    /// the flow delivered already are not sent again, so what a fixed
    /// connector reads differently is, under its own idempotency key).
    /// Refused while the flow runs; changes are audited.
    Cursor {
        tenant: String,
        name: String,
        /// The cursor to continue from, in the source connector's form.
        #[arg(long, conflicts_with = "reset")]
        set: Option<String>,
        /// Forget the cursor: the next run reads from the start.
        #[arg(long)]
        reset: bool,
    },
    /// Remove a flow with its cursor, retry queue and inbox (its runs and dead
    /// letters stay). Refused while it runs; audited.
    Remove { tenant: String, name: String },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first, a page at a time.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        flow: Option<String>,
        /// Start after this dead letter id (the last of the page before).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Letters per page (at most 500).
        #[arg(long, default_value_t = crate::limits::DEFAULT_DLQ_PAGE)]
        limit: usize,
    },
    /// Show one dead letter: the record and every failed attempt.
    Show { id: u64 },
    /// Deliver a dead letter again; it leaves the store only if that succeeds.
    Replay {
        id: u64,
        /// Run it through this installed version of the plugin that refused it.
        #[arg(long)]
        plugin_version: Option<String>,
        /// Replay even though a newer version of the record was delivered since.
        #[arg(long)]
        force: bool,
        /// Read the record again from the source (from the cursor its batch
        /// was read from) instead of replaying the stored payload: after a
        /// connector, or the data at the vendor, was fixed.
        #[arg(long)]
        reread: bool,
    },
    /// Drop a dead letter for good (recorded in the audit log).
    Discard {
        id: u64,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdmapCommand {
    /// List a tenant's links, optionally of one namespace.
    List {
        tenant: String,
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Show what an id is linked to, both ways.
    Resolve {
        tenant: String,
        namespace: String,
        id: String,
    },
    /// Link two ids by hand (replacing earlier links of either).
    Link {
        tenant: String,
        namespace: String,
        source: String,
        target: String,
    },
    /// List a tenant's namespaces with the plugins that may write each.
    Owners { tenant: String },
    /// Let a plugin write a namespace beside the plugin that owns it.
    Share {
        tenant: String,
        namespace: String,
        plugin: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        flow: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not `key=value`")),
    }
}

/// Parses the process arguments, runs the command, returns its exit code.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(crate::compile::WORKER_ARG) {
        return crate::compile::worker_main(&args[2..]);
    }
    // Everything this process creates is its user's alone: the data folder
    // holds sealed secrets, their keys and the components it runs.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Command::Serve(args) => args.log_format,
        _ => crate::server::config::LogFormat::Text,
    };
    init_tracing(&cli.log, log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // The binary compiles components in a bounded worker: itself.
    let compiler = match crate::compile::Compiler::this_executable() {
        Ok(compiler) => compiler,
        Err(e) => {
            eprintln!("error: could not find this executable to compile components with: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run_with(cli, compiler)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn init_tracing(filter: &str, format: crate::server::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(crate::console::colour_on_stderr())
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::server::config::LogFormat::Text => logs.try_init(),
        crate::server::config::LogFormat::Json => logs.json().try_init(),
    };
}

/// Runs one command, compiling components in this process; `Ok` carries the
/// exit code (a failed run is not an error of the command, but scripts must see
/// it).
pub async fn run(cli: Cli) -> crate::Result<ExitCode> {
    run_with(cli, crate::compile::Compiler::InProcess).await
}

/// Runs one command, compiling components with `compiler`.
pub async fn run_with(cli: Cli, compiler: crate::compile::Compiler) -> crate::Result<ExitCode> {
    let options = || options(&cli, &compiler);
    match &cli.command {
        Command::Demo => {
            crate::demo::run(&cli.data.join("demo"), options()?).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Sandbox(sandboxes) => {
            crate::demo::serve_sandboxes(sandboxes.clone()).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::New {
            kind,
            name,
            path,
            sdk,
        } => {
            let sdk = sdk.clone().or_else(crate::scaffold::default_sdk).ok_or_else(|| {
                Error::Invalid(
                    "this tenon was not built from a checkout that is still there: give --sdk <tenon>/sdk".into(),
                )
            })?;
            let dir = path.clone().unwrap_or_else(|| PathBuf::from(name));
            let files = crate::scaffold::create(*kind, name, &dir, &sdk)?;
            for file in &files {
                outln!("  {}", file.display());
            }
            outln!(
                "Created {kind:?} `{name}` in {}. Next: cd {0} && cargo test, then cargo build --target wasm32-wasip2 --release (see {}).",
                dir.display(),
                sdk.join("README.md").display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::Keygen { path } => {
            let (key, public) = tenon_sign::keygen_files(path).map_err(Error::Invalid)?;
            outln!(
                "Key {} written: secret {} (keep it private), public {} (for tenon trust add).",
                key.id(),
                path.display(),
                public.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::Sign {
            key,
            component,
            out,
        } => {
            let key =
                tenon_sign::sign_file(key, component, out.as_deref()).map_err(Error::Invalid)?;
            outln!(
                "Signed {} with key {}.",
                out.as_deref().unwrap_or(component).display(),
                key.id()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::State(StateCommand::Restore { file }) if cli.server.is_none() => {
            let summary = crate::backup::restore(file, &cli.data, cli.keys.as_deref())?;
            let out = Output { json: cli.json };
            out.done(
                &summary,
                &format!(
                    "Restored {} into {}: {} state entries, {} component(s), {} secret key(s).",
                    file.display(),
                    cli.data.display(),
                    summary.entries,
                    summary.components,
                    summary.keys
                ),
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::Serve(args) => {
            let config = crate::server::config::ServeConfig::load(args)?;
            crate::server::run(&cli.data, options()?, config).await?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let out = Output { json: cli.json };
    if let Some(server) = &cli.server {
        let Some(token) = &cli.token else {
            return Err(Error::Invalid(
                "--server needs --token (or TENON_TOKEN)".into(),
            ));
        };
        let client = crate::client::Client::new(server, token);
        return Ok(match remote(&client, &out, cli.command).await {
            Ok(code) => code,
            Err(refusal) => {
                eprintln!("error: {refusal}");
                ExitCode::from(refusal.exit_code)
            }
        });
    }
    let tenon = Tenon::open_with(&cli.data, options()?)?;
    match cli.command {
        Command::Plugin(cmd) => plugin(&tenon, &out, cmd).await?,
        Command::Tenant(TenantCommand::Create { tenant }) => {
            let tenant = tenon.create_tenant(&tenant, &actor())?;
            out.done(&tenant, &format!("Tenant `{}` created.", tenant.id));
        }
        Command::Tenant(TenantCommand::Policy {
            tenant,
            egress,
            networks,
            limits,
        }) => {
            let limits: LimitOverrides = limits.into();
            let t = if egress.is_empty() && networks.is_empty() && limits.is_empty() {
                tenon.tenant(&tenant)?
            } else {
                let egress = egress
                    .iter()
                    .map(|g| g.parse())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Error::Invalid)?;
                tenon.set_policy(
                    &tenant,
                    crate::tenant::Policy {
                        egress,
                        networks,
                        limits,
                    },
                    &actor(),
                )?
            };
            print_policy(&out, &t);
        }
        Command::Tenant(TenantCommand::List) => {
            let tenants = tenon.tenants()?;
            let enablements = tenon.enablements(None)?;
            let rows: Vec<TenantRow> = tenants
                .iter()
                .map(|t| TenantRow {
                    id: t.id.clone(),
                    enabled: enablements
                        .iter()
                        .filter(|e| e.tenant == t.id)
                        .map(|e| e.plugin.clone())
                        .collect(),
                })
                .collect();
            print_tenants(&out, &rows);
        }
        Command::Enable {
            tenant,
            plugin,
            config,
            secrets,
            secret_files,
            secret_hosts,
            secret_allow_http,
            grants,
            limits,
        } => {
            let secret_map = read_secrets(secrets, secret_files, secret_hosts, secret_allow_http)
                .map_err(Error::Invalid)?;
            let grants = grants
                .iter()
                .map(|g| g.parse())
                .collect::<Result<Vec<_>, _>>()
                .map_err(Error::Invalid)?;
            let enablement = tenon.enable(
                Enablement {
                    config: config.into_iter().collect(),
                    secrets: secret_map,
                    grants,
                    limits: limits.into(),
                    ..Enablement::new(&tenant, &plugin)
                },
                &actor(),
            )?;
            print_enabled(&out, &enablement.view());
        }
        Command::Disable { tenant, plugin } => {
            tenon.disable(&tenant, &plugin, &actor())?;
            print_disabled(&out, &tenant, &plugin);
        }
        Command::Check { tenant, plugin } => {
            let report = tenon.check(&tenant, &plugin).await?;
            out.done(
                &report,
                &format!(
                    "`{plugin}` reaches its vendor for `{tenant}` ({} ms).",
                    report.duration_ms
                ),
            );
        }
        Command::Preview {
            tenant,
            plugin,
            stream,
            cursor,
            limit,
            validate,
        } => {
            let page = tenon
                .preview(&tenant, &plugin, &stream, cursor.as_deref(), limit)
                .await?;
            let errors = if validate {
                tenon.schema_errors(&plugin, &stream, &page.records)?
            } else {
                vec![None; page.records.len()]
            };
            let invalid = errors.iter().flatten().count();
            if out.json {
                let mut json = serde_json::to_value(&page).map_err(anyhow::Error::from)?;
                if validate {
                    json["invalid"] = page
                        .records
                        .iter()
                        .zip(&errors)
                        .filter_map(|(r, e)| {
                            e.as_ref()
                                .map(|e| serde_json::json!({ "key": r.key, "error": e }))
                        })
                        .collect();
                }
                out.json_only(&json);
            } else {
                for (record, error) in page.records.iter().zip(&errors) {
                    outln!("{} {:?} {}", record.key, record.op, record.payload);
                    if let Some(error) = error {
                        outln!("  does not match: {error}");
                    }
                }
                let checked = if validate {
                    format!(", {invalid} not matching the stream's schema")
                } else {
                    String::new()
                };
                outln!(
                    "{} record(s){checked}; next cursor {}; more: {}.",
                    page.records.len(),
                    page.next_cursor.as_deref().unwrap_or("none"),
                    page.more
                );
            }
            if invalid > 0 {
                return Ok(ExitCode::from(5));
            }
        }
        Command::Write {
            tenant,
            plugin,
            stream,
            file,
        } => {
            let records = records_to_write(&file)?;
            let keys: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
            let outcomes = tenon
                .write_direct(&tenant, &plugin, &stream, records, &actor())
                .await?;
            return Ok(print_outcomes(&out, &keys, &outcomes));
        }
        Command::Flow(cmd) => return flow(&tenon, &out, cmd).await,
        Command::Dlq(cmd) => dlq(&tenon, &out, cmd).await?,
        Command::Retries { tenant, flow } => {
            let retries = tenon.retries(&tenant, &flow)?;
            print_retries(&out, &retries);
        }
        Command::Reconcile {
            tenant,
            flow,
            whole,
        } => {
            let report = tenon
                .reconcile_in(&tenant, &flow, crate::reconcile::Scope::whole_if(whole))
                .await?;
            return Ok(print_reconciliation(&out, &report));
        }
        Command::Idmap(IdmapCommand::List { tenant, namespace }) => {
            tenon.tenant(&tenant)?;
            let links = tenon.links(&tenant, namespace.as_deref())?;
            let rows: Vec<Link> = links
                .into_iter()
                .map(|(namespace, source, target)| Link {
                    namespace,
                    source,
                    target,
                })
                .collect();
            out.table(&rows, &["NAMESPACE", "SOURCE ID", "TARGET ID"], |l| {
                vec![l.namespace.clone(), l.source.clone(), l.target.clone()]
            });
        }
        Command::Idmap(IdmapCommand::Owners { tenant }) => {
            let owners = tenon.namespace_owners(&tenant)?;
            out.table(&owners, &["NAMESPACE", "OWNER", "SHARED WITH"], |o| {
                vec![o.namespace.clone(), o.owner.clone(), o.shared.join(", ")]
            });
        }
        Command::Idmap(IdmapCommand::Share {
            tenant,
            namespace,
            plugin,
        }) => {
            let owner = tenon.share_namespace(&tenant, &namespace, &plugin, &actor())?;
            out.done(
                &owner,
                &format!(
                    "`{plugin}` may write `{namespace}` of `{tenant}` (owner `{}`).",
                    owner.owner
                ),
            );
        }
        Command::Idmap(IdmapCommand::Resolve {
            tenant,
            namespace,
            id,
        }) => {
            tenon.tenant(&tenant)?;
            let (target, source) = tenon.resolve_id(&tenant, &namespace, &id)?;
            if target.is_none() && source.is_none() {
                return Err(Error::not_found("id", format!("{namespace}/{id}")));
            }
            let view = serde_json::json!({ "id": id, "target": target, "source": source });
            let mut text = Vec::new();
            if let Some(t) = &target {
                text.push(format!("{id} -> {t}"));
            }
            if let Some(s) = &source {
                text.push(format!("{s} -> {id}"));
            }
            out.done(&view, &text.join("\n"));
        }
        Command::Idmap(IdmapCommand::Link {
            tenant,
            namespace,
            source,
            target,
        }) => {
            tenon.link(&tenant, &namespace, &source, &target, &actor())?;
            out.done(
                &serde_json::json!({"namespace": namespace, "source": source, "target": target}),
                &format!("Linked {source} -> {target} in `{namespace}`."),
            );
        }
        Command::Audit => {
            print_audit(&out, &tenon.audit_log()?);
        }
        Command::State(StateCommand::Check) => {
            let check = tenon.check_state()?;
            let entries: usize = check.trees.iter().map(|(_, n)| n).sum();
            let mut text = format!(
                "{entries} entries in {} trees and {} component file(s) checked: ",
                check.trees.len(),
                check.components
            );
            if check.problems.is_empty() {
                text.push_str("no problem found.");
            } else {
                text.push_str(&format!("{} problem(s):", check.problems.len()));
                for problem in &check.problems {
                    text.push_str(&format!("\n- {problem}"));
                }
            }
            out.done(&check, &text);
            if !check.problems.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::State(StateCommand::Backup { file }) => {
            print_backup(&out, &file, &tenon.backup_for(&file, &actor())?);
        }
        Command::State(StateCommand::Restore { .. }) => unreachable!("handled above"),
        Command::Trust(TrustCommand::Add { name, key }) => {
            let publisher =
                tenon.trust(&name, &read_key(&key).map_err(Error::Invalid)?, &actor())?;
            print_trusted(&out, &publisher);
        }
        Command::Trust(TrustCommand::List) => {
            print_publishers(&out, &tenon.publishers()?, &tenon.name_owners()?);
        }
        Command::Trust(TrustCommand::Remove { name }) => {
            let publisher = tenon.distrust(&name, &actor())?;
            out.done(
                &publisher,
                &format!(
                    "Publisher `{}` (key {}) is no longer trusted.",
                    publisher.name, publisher.id
                ),
            );
        }
        Command::Runs(RunsCommand::List {
            tenant,
            flow,
            limit,
        }) => {
            print_runs(
                &out,
                &tenon.runs(tenant.as_deref(), flow.as_deref(), limit)?,
            );
        }
        Command::Demo
        | Command::Sandbox(_)
        | Command::Serve(_)
        | Command::New { .. }
        | Command::Keygen { .. }
        | Command::Sign { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How a command opens the host: compiling with `compiler`, with the keys
/// where `--keys` says.
fn options(cli: &Cli, compiler: &crate::compile::Compiler) -> crate::Result<crate::host::Options> {
    Ok(crate::host::Options {
        compiler: compiler.clone(),
        keys: cli.keys.clone(),
    })
}

/// The secrets of `enable`: those given inline, then those read from files
/// (trailing newline dropped), each with the hosts `--secret-host` binds it to
/// and whether `--secret-allow-http` lets it go over http. The error names the
/// file that could not be read, or the secret a host or allowance names that is
/// not given.
fn read_secrets(
    secrets: Vec<(String, String)>,
    files: Vec<(String, String)>,
    hosts: Vec<(String, String)>,
    allow_http: Vec<String>,
) -> Result<BTreeMap<String, Secret>, String> {
    let mut map: BTreeMap<String, Secret> = secrets
        .into_iter()
        .map(|(name, value)| (name, Secret::for_hosts(value, Vec::new())))
        .collect();
    for (name, path) in files {
        let value = std::fs::read_to_string(&path)
            .map_err(|e| format!("could not read secret file `{path}`: {e}"))?;
        map.insert(
            name,
            Secret::for_hosts(value.trim_end_matches(['\n', '\r']), Vec::new()),
        );
    }
    for (name, host) in hosts {
        let secret = map.get_mut(&name).ok_or_else(|| {
            format!("--secret-host names secret `{name}`, which is not given (--secret or --secret-file)")
        })?;
        secret.hosts.push(host.parse()?);
    }
    for name in allow_http {
        map.get_mut(&name)
            .ok_or_else(|| {
                format!("--secret-allow-http names secret `{name}`, which is not given")
            })?
            .allow_http = true;
    }
    Ok(map)
}

async fn plugin(tenon: &Tenon, out: &Output, cmd: PluginCommand) -> crate::Result<()> {
    match cmd {
        PluginCommand::Install {
            files,
            bundled,
            allow_unsigned,
            allow_downgrade,
            limits,
        } => {
            let options = crate::publishers::InstallOptions {
                limits: limits.into(),
                allow_unsigned,
                allow_downgrade,
            };
            let mut components: Vec<(String, Vec<u8>, bool)> = Vec::new();
            if bundled {
                components.extend(
                    crate::bundled::PLUGINS
                        .iter()
                        .map(|(n, w)| (format!("bundled:{n}"), w.to_vec(), true)),
                );
            }
            for file in files {
                let wasm = std::fs::read(&file).map_err(|e| {
                    Error::Invalid(format!("could not read `{}`: {e}", file.display()))
                })?;
                components.push((file.display().to_string(), wasm, false));
            }
            let mut installed = Vec::new();
            for (source, wasm, bundled) in components {
                let plugin = if bundled {
                    tenon.install_bundled_plugin(&wasm, options, &actor()).await
                } else {
                    tenon.install_with(&wasm, options, &actor()).await
                };
                let plugin = plugin.map_err(|e| match e {
                    Error::Load(_) | Error::Invalid(_) | Error::Call(_) => {
                        Error::Invalid(format!("{source}: {e}"))
                    }
                    other => other,
                })?;
                if !out.json {
                    outln!(
                        "Installed {} {} ({}, tenon:connector@{}, {} bytes, sha256 {}, {}).",
                        plugin.id,
                        plugin.version,
                        plugin.world,
                        plugin.api,
                        plugin.size,
                        &plugin.sha256[..12],
                        match &plugin.publisher {
                            Some(key) => format!("signed by key {key}"),
                            None => "unsigned".to_owned(),
                        }
                    );
                }
                installed.push(plugin);
            }
            out.json_only(&installed);
        }
        PluginCommand::List => {
            print_plugins(out, &tenon.plugins()?);
        }
        PluginCommand::Inspect { plugin } => {
            let p = tenon.plugin(&plugin)?;
            if out.json {
                out.json_only(&p);
                return Ok(());
            }
            let d = &p.descriptor;
            outln!("{} {} ({}, kind {})", p.id, p.version, p.world, d.kind);
            outln!("  {}", d.description);
            outln!("  sha256   {}", p.sha256);
            outln!("  streams:");
            for s in &d.streams {
                let access = match (s.readable, s.writable) {
                    (true, true) => "read/write",
                    (true, false) => "read",
                    (false, true) => "write",
                    (false, false) => "-",
                };
                let cursor = s
                    .cursor_field
                    .as_deref()
                    .map(|c| format!(", cursor on `{c}`"))
                    .unwrap_or_default();
                outln!("    {} ({access}{cursor})", s.name);
            }
            outln!("  config keys:");
            for c in &d.config {
                let req = if c.required { "required" } else { "optional" };
                let def = c
                    .default
                    .as_deref()
                    .map(|v| format!(", default `{v}`"))
                    .unwrap_or_default();
                outln!("    {} ({req}{def}): {}", c.name, c.description);
            }
            outln!(
                "  secrets:{}",
                if d.secrets.is_empty() { " none" } else { "" }
            );
            for secret in &d.secrets {
                let req = if secret.required {
                    "required"
                } else {
                    "optional"
                };
                let about = if secret.description.is_empty() {
                    String::new()
                } else {
                    format!(": {}", secret.description)
                };
                outln!("    {} ({req}, {}){about}", secret.name, secret.scheme);
            }
            outln!(
                "  egress:  {}",
                if d.egress.is_empty() {
                    "none declared".into()
                } else {
                    d.egress.join(", ")
                }
            );
            if !p.limits.is_empty() {
                outln!(
                    "  limits:  {}",
                    serde_json::to_string(&p.limits).unwrap_or_default()
                );
            }
        }
        PluginCommand::Versions { plugin } => {
            print_versions(out, &crate::server::api::version_rows(tenon, &plugin)?);
        }
        PluginCommand::Rollback { plugin } => {
            print_rolled_back(out, &tenon.rollback(&plugin, &actor())?);
        }
        PluginCommand::Remove { plugin } => {
            tenon.remove_plugin(&plugin, &actor())?;
            out.done(
                &serde_json::json!({"removed": plugin}),
                &format!("Plugin `{plugin}` removed."),
            );
        }
    }
    Ok(())
}

/// A key given as its text or as the path of a file holding it.
fn read_key(key: &str) -> Result<String, String> {
    if key.trim_start().starts_with("tenon-ed25519:") {
        return Ok(key.to_owned());
    }
    std::fs::read_to_string(key).map_err(|e| format!("could not read key file `{key}`: {e}"))
}

fn print_trusted(out: &Output, publisher: &crate::publishers::Publisher) {
    out.done(
        publisher,
        &format!(
            "Publisher `{}` (key {}) trusted: components it signs may install.",
            publisher.name, publisher.id
        ),
    );
}

fn print_publishers(
    out: &Output,
    publishers: &[crate::publishers::Publisher],
    names: &[crate::publishers::NameOwner],
) {
    if out.json {
        out.json_only(&serde_json::json!({ "publishers": publishers, "names": names }));
        return;
    }
    out.table(publishers, &["PUBLISHER", "KEY ID", "KEY"], |p| {
        vec![p.name.clone(), p.id.clone(), p.key.clone()]
    });
    let owned: Vec<String> = names
        .iter()
        .map(|n| {
            let by = n.publisher.as_ref().map_or_else(
                || "unsigned".to_owned(),
                |id| {
                    publishers
                        .iter()
                        .find(|p| &p.id == id)
                        .map_or_else(|| format!("key {id} (not trusted now)"), |p| p.name.clone())
                },
            );
            format!("{} ({by})", n.plugin)
        })
        .collect();
    if !owned.is_empty() {
        outln!("Plugin names: {}.", owned.join(", "));
    }
}

fn print_policy(out: &Output, tenant: &crate::tenant::Tenant) {
    let p = &tenant.policy;
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    out.done(
        &p,
        &format!(
            "Tenant `{}`: a tenant token may grant {}; plugins may reach networks {}; limits a tenant token may not go above: {}.",
            tenant.id,
            list(p.egress.iter().map(ToString::to_string).collect()),
            list(p.networks.iter().map(ToString::to_string).collect()),
            if p.limits.is_empty() {
                "the plugin's".to_owned()
            } else {
                serde_json::to_string(&p.limits).unwrap_or_default()
            }
        ),
    );
}

/// Who is acting, for the audit log: the OS user running the CLI.
fn actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}

async fn dlq(tenon: &Tenon, out: &Output, cmd: DlqCommand) -> crate::Result<()> {
    match cmd {
        DlqCommand::List {
            tenant,
            flow,
            after,
            limit,
        } => {
            print_dead_letters(
                out,
                &tenon.dead_letters_page(tenant.as_deref(), flow.as_deref(), after, limit)?,
                limit,
            );
        }
        DlqCommand::Show { id } => {
            print_dead_letter(out, &tenon.dead_letter(id)?);
        }
        DlqCommand::Replay {
            id,
            plugin_version,
            force,
            reread,
        } => {
            let options = crate::dlq::ReplayOptions {
                plugin_version,
                force,
                reread,
            };
            let replayed = tenon.replay_with(id, &options, &actor()).await?;
            print_replayed(out, &replayed);
        }
        DlqCommand::Discard { id, reason } => {
            let entry = tenon.discard(id, &actor(), reason.as_deref())?;
            print_discarded(out, id, &entry);
        }
    }
    Ok(())
}

async fn flow(tenon: &Tenon, out: &Output, cmd: FlowCommand) -> crate::Result<ExitCode> {
    match cmd {
        FlowCommand::Add {
            tenant,
            name,
            from,
            via,
            to,
            batch_size,
            max_attempts,
            retry_base_ms,
            max_run_ms,
            every,
            cron,
            pins,
        } => {
            let schedule = every.map(Schedule::Every).or(cron.map(Schedule::Cron));
            let flow = tenon.add_flow(
                Flow {
                    tenant,
                    name,
                    source: from,
                    transforms: via,
                    destination: to,
                    batch_size,
                    max_attempts,
                    retry_base_ms,
                    max_run_ms,
                    schedule,
                    pins: pins.into_iter().map(|p| (p.plugin, p.version)).collect(),
                    pin_sha256: BTreeMap::new(),
                },
                &actor(),
            )?;
            out.done(
                &flow,
                &format!("Flow `{}` added for tenant `{}`.", flow.name, flow.tenant),
            );
        }
        FlowCommand::List { tenant } => {
            let flows = tenon.flows(tenant.as_deref())?;
            let mut rows = Vec::new();
            for f in flows {
                let cursor = tenon.cursor(&f.tenant, &f.name)?;
                rows.push(FlowRow { flow: f, cursor });
            }
            print_flows(out, &rows);
        }
        FlowCommand::Run { tenant, name } => {
            let run = tenon.run_flow(&tenant, &name).await?;
            return Ok(print_run(out, &run));
        }
        FlowCommand::Cursor {
            tenant,
            name,
            set,
            reset,
        } => {
            if set.is_none() && !reset {
                let cursor = tenon.cursor(&tenant, &name)?;
                print_cursor(out, &tenant, &name, None, &cursor);
            } else {
                let before = tenon.set_cursor(&tenant, &name, set.as_deref(), &actor())?;
                print_cursor(out, &tenant, &name, Some(&before), &set);
            }
        }
        FlowCommand::Remove { tenant, name } => {
            print_removed(out, &tenon.remove_flow(&tenant, &name, &actor())?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A record as `tenon write` reads it: the payload as JSON, not a string.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordToWrite {
    key: String,
    payload: serde_json::Value,
    #[serde(default)]
    op: Option<crate::record::Op>,
    #[serde(default)]
    source_time: Option<String>,
}

/// The records of `tenon write`'s FILE (`-`: standard input).
fn records_to_write(file: &std::path::Path) -> crate::Result<Vec<crate::record::Envelope>> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| Error::Invalid(format!("could not read `{}`: {e}", file.display())))?;
    let records: Vec<RecordToWrite> = serde_json::from_str(&text).map_err(|e| {
        Error::Invalid(format!(
            "`{}` is not a JSON list of {{\"key\", \"payload\"}} records: {e}",
            file.display()
        ))
    })?;
    Ok(records
        .into_iter()
        .map(|r| crate::record::Envelope {
            stream: String::new(),
            key: r.key,
            op: r.op.unwrap_or(crate::record::Op::Upsert),
            payload: r.payload.to_string(),
            source_time: r.source_time,
        })
        .collect())
}

/// Prints each record's outcome of `tenon write`; exit code 5 if any failed.
fn print_outcomes(
    out: &Output,
    keys: &[String],
    outcomes: &crate::sandbox::WriteOutcomes,
) -> ExitCode {
    let rows: Vec<serde_json::Value> = keys
        .iter()
        .zip(outcomes)
        .map(|(key, outcome)| match outcome {
            Ok(id) => serde_json::json!({"key": key, "id": id}),
            Err(error) => serde_json::json!({"key": key, "error": error}),
        })
        .collect();
    if out.json {
        out.json_only(&rows);
    } else {
        for (key, outcome) in keys.iter().zip(outcomes) {
            match outcome {
                Ok(Some(id)) => outln!("{key}: written as {id}"),
                Ok(None) => outln!("{key}: written"),
                Err(error) => outln!("{key}: {error}"),
            }
        }
    }
    if outcomes.iter().any(Result::is_err) {
        ExitCode::from(5)
    } else {
        ExitCode::SUCCESS
    }
}

/// One line saying what a run did: every record read is accounted for, as
/// written, queued for a retry, dead-lettered or skipped.
pub fn run_summary(run: &Run) -> String {
    let mut outcome = format!(
        "{} read, {} written in {} batch(es)",
        run.records_read, run.records_written, run.batches
    );
    let mut also = |count: u64, what: &str| {
        if count > 0 {
            outcome += &format!(", {count} {what}");
        }
    };
    also(run.records_retried, "retried from the queue");
    also(run.records_queued, "queued for a retry");
    also(run.dead_lettered, "dead-lettered (tenon dlq list)");
    also(run.records_superseded, "superseded by newer versions");
    also(run.records_repeated, "already delivered");
    also(run.write_timeouts, "slow write call(s) split");
    let refused = if run.http_refused > 0 {
        format!(" ({} more refused)", run.http_refused)
    } else {
        String::new()
    };
    format!(
        "Run {} of `{}` {}: {outcome}; fuel {}, {} HTTP request(s){refused}; cursor {}.",
        run.id,
        run.flow,
        run.status,
        run.fuel_used,
        run.http_requests,
        run.cursor_after.as_deref().unwrap_or("none"),
    )
}

#[derive(Serialize)]
struct Link {
    namespace: String,
    source: String,
    target: String,
}

#[derive(Serialize)]
struct TenantRow {
    id: String,
    enabled: Vec<String>,
}

/// Prints results as text or JSON.
struct Output {
    json: bool,
}

impl Output {
    fn done<T: Serialize>(&self, value: &T, text: &str) {
        if self.json {
            self.json_only(value);
        } else {
            outln!("{text}");
        }
    }

    fn json_only<T: Serialize>(&self, value: &T) {
        if self.json {
            outln!(
                "{}",
                serde_json::to_string_pretty(value).expect("output serialises")
            );
        }
    }

    fn table<T: Serialize>(&self, rows: &[T], header: &[&str], cells: impl Fn(&T) -> Vec<String>) {
        if self.json {
            self.json_only(&rows);
            return;
        }
        let body: Vec<Vec<String>> = rows.iter().map(cells).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in &body {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            outln!("{}", padded.join("  ").trim_end());
        };
        line(header.iter().map(|h| h.to_string()).collect());
        for row in body {
            line(row);
        }
    }
}

/// Runs a command through the admin API of a running server; the output and
/// exit codes are the local path's.
async fn remote(
    client: &crate::client::Client,
    out: &Output,
    command: Command,
) -> Result<ExitCode, crate::client::Refusal> {
    match command {
        Command::Plugin(PluginCommand::List) => print_plugins(out, &client.plugins().await?),
        Command::Plugin(PluginCommand::Versions { plugin }) => {
            print_versions(out, &client.plugin_versions(&plugin).await?);
        }
        Command::Plugin(PluginCommand::Rollback { plugin }) => {
            print_rolled_back(out, &client.rollback(&plugin).await?);
        }
        Command::Tenant(TenantCommand::Policy {
            tenant,
            egress,
            networks,
            limits,
        }) => {
            let limits: LimitOverrides = limits.into();
            let t = if egress.is_empty() && networks.is_empty() && limits.is_empty() {
                client.policy(&tenant).await?
            } else {
                let egress = egress
                    .iter()
                    .map(|g| g.parse())
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(|message| crate::client::Refusal {
                        message,
                        exit_code: 4,
                    })?;
                let policy = crate::tenant::Policy {
                    egress,
                    networks,
                    limits,
                };
                client.set_policy(&tenant, &policy).await?
            };
            print_policy(out, &t);
        }
        Command::Tenant(TenantCommand::List) => {
            let rows: Vec<TenantRow> = client
                .tenants()
                .await?
                .into_iter()
                .map(|t| TenantRow {
                    id: t.id,
                    enabled: t.enabled,
                })
                .collect();
            print_tenants(out, &rows);
        }
        Command::Enable {
            tenant,
            plugin,
            config,
            secrets,
            secret_files,
            secret_hosts,
            secret_allow_http,
            grants,
            limits,
        } => {
            let secrets = read_secrets(secrets, secret_files, secret_hosts, secret_allow_http)
                .map_err(|message| crate::client::Refusal {
                    message,
                    exit_code: 4,
                })?;
            let settings = crate::server::api::EnableBody {
                config: config.into_iter().collect(),
                secrets,
                grants,
                limits: limits.into(),
            };
            print_enabled(out, &client.enable(&tenant, &plugin, &settings).await?);
        }
        Command::Disable { tenant, plugin } => {
            client.disable(&tenant, &plugin).await?;
            print_disabled(out, &tenant, &plugin);
        }
        Command::Flow(FlowCommand::List { tenant }) => {
            print_flows(out, &client.flows(tenant.as_deref()).await?);
        }
        Command::Flow(FlowCommand::Run { tenant, name }) => {
            return Ok(print_run(out, &client.run_flow(&tenant, &name).await?));
        }
        Command::Flow(FlowCommand::Cursor {
            tenant,
            name,
            set,
            reset,
        }) => {
            if set.is_none() && !reset {
                let cursor = client.cursor(&tenant, &name).await?;
                print_cursor(out, &tenant, &name, None, &cursor);
            } else {
                let before = client.set_cursor(&tenant, &name, set.as_deref()).await?;
                print_cursor(out, &tenant, &name, Some(&before), &set);
            }
        }
        Command::Flow(FlowCommand::Remove { tenant, name }) => {
            print_removed(out, &client.remove_flow(&tenant, &name).await?);
        }
        Command::Runs(RunsCommand::List {
            tenant,
            flow,
            limit,
        }) => print_runs(
            out,
            &client
                .runs(tenant.as_deref(), flow.as_deref(), limit)
                .await?,
        ),
        Command::Retries { tenant, flow } => {
            print_retries(out, &client.retries(&tenant, &flow).await?);
        }
        Command::Reconcile {
            tenant,
            flow,
            whole,
        } => {
            return Ok(print_reconciliation(
                out,
                &client
                    .reconcile(&tenant, &flow, crate::reconcile::Scope::whole_if(whole))
                    .await?,
            ));
        }
        Command::Dlq(DlqCommand::List {
            tenant,
            flow,
            after,
            limit,
        }) => print_dead_letters(
            out,
            &client
                .dead_letters(tenant.as_deref(), flow.as_deref(), after, limit)
                .await?,
            limit,
        ),
        Command::Dlq(DlqCommand::Show { id }) => {
            print_dead_letter(out, &client.dead_letter(id).await?);
        }
        Command::Dlq(DlqCommand::Replay {
            id,
            plugin_version,
            force,
            reread,
        }) => {
            let options = crate::dlq::ReplayOptions {
                plugin_version,
                force,
                reread,
            };
            print_replayed(out, &client.replay(id, &options).await?);
        }
        Command::Dlq(DlqCommand::Discard { id, reason }) => {
            let entry = client.discard(id, reason.as_deref()).await?;
            print_discarded(out, id, &entry);
        }
        Command::Audit => print_audit(out, &client.audit_log().await?),
        Command::Trust(TrustCommand::Add { name, key }) => {
            let key = read_key(&key).map_err(|message| crate::client::Refusal {
                message,
                exit_code: 4,
            })?;
            print_trusted(out, &client.trust(&name, &key).await?);
        }
        Command::Trust(TrustCommand::List) => {
            let listed = client.publishers().await?;
            let publishers: Vec<crate::publishers::Publisher> =
                serde_json::from_value(listed["publishers"].clone()).unwrap_or_default();
            let names: Vec<crate::publishers::NameOwner> =
                serde_json::from_value(listed["names"].clone()).unwrap_or_default();
            print_publishers(out, &publishers, &names);
        }
        Command::State(StateCommand::Backup { file }) => {
            let bytes = client.backup().await?;
            let summary =
                crate::backup::save(&bytes, &file).map_err(|e| crate::client::Refusal {
                    message: e.to_string(),
                    exit_code: e.exit_code(),
                })?;
            print_backup(out, &file, &summary);
        }
        Command::Trust(TrustCommand::Remove { name }) => {
            let publisher = client.distrust(&name).await?;
            out.done(
                &publisher,
                &format!(
                    "Publisher `{}` (key {}) is no longer trusted.",
                    publisher.name, publisher.id
                ),
            );
        }
        _ => {
            return Err(crate::client::Refusal {
                message: "this command acts on the data folder only, not through --server".into(),
                exit_code: 2,
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_backup(out: &Output, file: &std::path::Path, summary: &crate::backup::Summary) {
    out.done(
        summary,
        &format!(
            "Backup written to {}: {} state entries, {} component(s), {} secret key(s). It holds the keys of the secrets: keep it as safe as the data folder.",
            file.display(),
            summary.entries,
            summary.components,
            summary.keys
        ),
    );
}

fn print_versions(out: &Output, versions: &[crate::server::api::VersionRow]) {
    out.table(
        versions,
        &["VERSION", "CURRENT", "SHA256", "INSTALLED (UTC)", "EGRESS"],
        |v| {
            vec![
                v.installed.version.clone(),
                if v.current {
                    "yes".into()
                } else {
                    String::new()
                },
                v.installed.sha256[..12].to_owned(),
                crate::console::time(v.installed.installed_at),
                v.installed.descriptor.egress.join(", "),
            ]
        },
    );
}

fn print_rolled_back(out: &Output, installed: &Installed) {
    out.done(
        installed,
        &format!(
            "Plugin `{}` rolled back: {} is current.",
            installed.id, installed.version
        ),
    );
}

fn print_plugins(out: &Output, plugins: &[Installed]) {
    out.table(
        plugins,
        &["PLUGIN", "VERSION", "WORLD", "KIND", "SHA256", "STREAMS"],
        |p| {
            vec![
                p.id.clone(),
                p.version.clone(),
                p.world.to_string(),
                p.descriptor.kind.to_string(),
                p.sha256[..12].to_owned(),
                p.descriptor
                    .streams
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        },
    );
}

fn print_tenants(out: &Output, rows: &[TenantRow]) {
    out.table(rows, &["TENANT", "ENABLED PLUGINS"], |r| {
        vec![r.id.clone(), r.enabled.join(", ")]
    });
}

fn print_enabled(out: &Output, view: &EnablementView) {
    out.done(
        view,
        &format!(
            "Plugin `{}` enabled for tenant `{}`.",
            view.plugin, view.tenant
        ),
    );
}

fn print_disabled(out: &Output, tenant: &str, plugin: &str) {
    out.done(
        &serde_json::json!({"tenant": tenant, "plugin": plugin, "enabled": false}),
        &format!("Plugin `{plugin}` disabled for tenant `{tenant}`."),
    );
}

fn print_flows(out: &Output, rows: &[FlowRow]) {
    out.table(
        rows,
        &["TENANT", "FLOW", "FROM", "VIA", "TO", "SCHEDULE", "CURSOR"],
        |r| {
            vec![
                r.flow.tenant.clone(),
                r.flow.name.clone(),
                r.flow.source.to_string(),
                r.flow.transforms.join(" > "),
                r.flow.destination.to_string(),
                r.flow
                    .schedule
                    .as_ref()
                    .map_or_else(|| "-".into(), ToString::to_string),
                r.cursor.clone().unwrap_or_else(|| "-".into()),
            ]
        },
    );
}

/// Prints a run; exit code 5 if it failed, 7 if it succeeded but dead-lettered
/// records.
fn print_run(out: &Output, run: &Run) -> ExitCode {
    out.done(run, &run_summary(run));
    if run.status == RunStatus::Failed {
        if !out.json {
            eprintln!(
                "error: {}",
                run.error.as_deref().unwrap_or("the run failed")
            );
        }
        return ExitCode::from(5);
    }
    if run.dead_lettered > 0 {
        if !out.json {
            eprintln!(
                "warning: {} record(s) dead-lettered: `tenon dlq list --tenant {} --flow {}` shows why",
                run.dead_lettered, run.tenant, run.flow
            );
        }
        return ExitCode::from(7);
    }
    ExitCode::SUCCESS
}

fn print_runs(out: &Output, runs: &[Run]) {
    out.table(
        runs,
        &[
            "RUN",
            "TENANT",
            "FLOW",
            "STARTED (UTC)",
            "STATUS",
            "READ",
            "WRITTEN",
            "QUEUED",
            "DEAD",
            "HTTP",
            "ERROR",
        ],
        |r| {
            vec![
                r.id.to_string(),
                r.tenant.clone(),
                r.flow.clone(),
                crate::console::time(r.started_at),
                r.status.to_string(),
                r.records_read.to_string(),
                r.records_written.to_string(),
                r.records_queued.to_string(),
                r.dead_lettered.to_string(),
                r.http_requests.to_string(),
                r.error.clone().unwrap_or_default(),
            ]
        },
    );
}

fn print_retries(out: &Output, retries: &[Retry]) {
    out.table(
        retries,
        &["RECORD", "ATTEMPTS", "NEXT ATTEMPT IN", "LAST ERROR"],
        |r| {
            vec![
                r.envelope.key.clone(),
                r.attempts.len().to_string(),
                crate::console::duration(r.next_at.saturating_sub(crate::host::now_ms())),
                r.attempts
                    .last()
                    .map(|a| a.error.clone())
                    .unwrap_or_default(),
            ]
        },
    );
}

/// Prints a reconciliation; exit code 6 if the systems differ.
/// A flow's cursor, and the one it replaced (`before`) after a change.
fn print_cursor(
    out: &Output,
    tenant: &str,
    flow: &str,
    before: Option<&Option<String>>,
    cursor: &Option<String>,
) {
    let shown = |c: &Option<String>| c.clone().unwrap_or_else(|| "none (the start)".into());
    let json = serde_json::json!({"tenant": tenant, "flow": flow, "cursor": cursor});
    match before {
        None => out.done(
            &json,
            &format!("Cursor of `{tenant}/{flow}`: {}.", shown(cursor)),
        ),
        Some(before) => {
            let mut json = json;
            json["before"] = serde_json::json!(before);
            out.done(
                &json,
                &format!(
                    "Cursor of `{tenant}/{flow}` was {}, is {}: the next run reads from there.",
                    shown(before),
                    shown(cursor)
                ),
            );
        }
    }
}

fn print_removed(out: &Output, flow: &Flow) {
    out.done(
        flow,
        &format!(
            "Flow `{}/{}` removed (its runs and dead letters are kept).",
            flow.tenant, flow.name
        ),
    );
}

fn print_reconciliation(out: &Output, report: &Reconciliation) -> ExitCode {
    if out.json {
        out.json_only(report);
    } else {
        outln!(
            "Source: {} record(s); destination: {}; matching: {}.",
            report.source_records,
            report.destination_records,
            report.matching
        );
        if report.not_owned > 0 {
            outln!(
                "Not compared: {} destination record(s) this flow did not write (--whole compares them).",
                report.not_owned
            );
        }
        for key in &report.missing {
            outln!("missing    {key} (in the source, not in the destination)");
        }
        for id in &report.extra {
            outln!("extra      {id} (in the destination, not in the source)");
        }
        for d in &report.different {
            outln!("different  {} (destination {})", d.key, d.destination_id);
            for (field, [source, held]) in &d.fields {
                outln!("    {field}: source {source}, destination {held}");
            }
        }
        if report.is_clean() {
            outln!("The systems agree.");
        }
    }
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(6)
    }
}

fn print_dead_letters(out: &Output, letters: &[DeadLetter], limit: usize) {
    if !out.json
        && letters.len() >= limit
        && let Some(last) = letters.last()
    {
        eprintln!("More may follow: dlq list --after {}", last.id);
    }
    out.table(
        letters,
        &[
            "ID",
            "TENANT",
            "FLOW",
            "RECORD",
            "STAGE",
            "PLUGIN",
            "ATTEMPTS",
            "LAST ERROR",
        ],
        |d| {
            vec![
                d.id.to_string(),
                d.tenant.clone(),
                d.flow.clone(),
                d.envelope.key.clone(),
                format!("{:?}", d.stage).to_lowercase(),
                format!("{}@{}", d.plugin, d.plugin_version),
                d.attempts.len().to_string(),
                d.attempts
                    .last()
                    .map(|a| a.error.clone())
                    .unwrap_or_default(),
            ]
        },
    );
}

fn print_dead_letter(out: &Output, d: &DeadLetter) {
    if out.json {
        out.json_only(d);
        return;
    }
    outln!(
        "Dead letter {} of {}/{}: record `{}` ({:?} stage)",
        d.id,
        d.tenant,
        d.flow,
        d.envelope.key,
        d.stage
    );
    outln!(
        "  refused by {}@{}; idempotency key {}",
        d.plugin,
        d.plugin_version,
        d.idempotency_key
    );
    outln!("  payload: {}", d.envelope.payload);
    for (i, a) in d.attempts.iter().enumerate() {
        outln!(
            "  attempt {} at {}: {}",
            i + 1,
            crate::console::time(a.at),
            a.error
        );
    }
}

fn print_replayed(out: &Output, replayed: &crate::dlq::Replayed) {
    out.done(
        replayed,
        &format!(
            "Dead letter {} replayed through {}@{} and delivered.",
            replayed.dead_letter, replayed.plugin, replayed.plugin_version
        ),
    );
}

fn print_discarded(out: &Output, id: u64, entry: &AuditEntry) {
    out.done(
        entry,
        &format!("Dead letter {id} discarded (audit entry {}).", entry.id),
    );
}

fn print_audit(out: &Output, log: &[AuditEntry]) {
    out.table(
        log,
        &["ID", "AT (UTC)", "ACTOR", "ACTION", "SUBJECT"],
        |e| {
            vec![
                e.id.to_string(),
                crate::console::time(e.at),
                e.actor.clone(),
                e.action.clone(),
                e.subject.clone(),
            ]
        },
    );
}
