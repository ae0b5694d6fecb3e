//! The settings of `tenon serve`: a TOML file (`--config`) whose every field is
//! documented here with its named default, and the flags that override it. Owns
//! reading and checking them; unknown keys are refused, naming the key. Knows
//! nothing of what the settings drive.
//!
//! ```toml
//! listen = "127.0.0.1:7878"
//! # metrics_listen = "127.0.0.1:9100"
//!
//! [scheduler]
//! max_concurrent_runs = 4
//! max_concurrent_runs_per_tenant = 2
//! tick = "1s"
//! jitter = 0.1
//! shutdown_grace = "5m"
//!
//! [[token]]
//! name = "ops"
//! role = "operator"
//! secret_file = "/run/secrets/tenon-ops"
//!
//! [[token]]
//! name = "acme-portal"
//! role = "tenant"
//! tenant = "acme"
//! secret = "a long random string"
//! ```

use crate::error::{Error, Result};
use crate::flow::{format_duration, parse_duration};
use serde::{Deserialize, Deserializer};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The `tenon serve` configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address of the HTTP listener: health, readiness, metrics and the admin
    /// API. Loopback by default.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A second listener serving `GET /metrics` alone, without a token, for a
    /// scraper that cannot send one; none by default (then `/metrics` on
    /// `listen` needs an operator token). Metrics name every tenant and flow:
    /// keep it where only the scraper reaches it.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// How flows are started on their schedules.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// The bearer tokens the admin API accepts (`[[token]]` tables). None by
    /// default: then every `/api/v1/` request but the OpenAPI document is refused.
    #[serde(default, rename = "token")]
    pub tokens: Vec<TokenConfig>,
}

/// One `[[token]]`: a bearer token of the admin API.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who uses it; the audit log records changes under this name.
    pub name: String,
    /// `operator` (everything) or `tenant` (one tenant's resources only).
    pub role: Role,
    /// For `role = "tenant"`: the tenant it acts for.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The token itself, in the file. Prefer `secret_file`.
    #[serde(default)]
    pub secret: Option<String>,
    /// A file holding the token (a trailing newline is dropped); read at start.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("tenant", &self.tenant)
            .field("secret_file", &self.secret_file)
            .finish_non_exhaustive()
    }
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Operator,
    /// Its own tenant's enablements, flows, runs, dead letters and audit entries;
    /// plugins read-only; no tenant creation.
    Tenant,
}

/// Shortest token secret accepted.
const MIN_SECRET_LEN: usize = 16;

/// The `[scheduler]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Runs in progress at once, over all tenants; a flow that is due waits for a
    /// free slot.
    #[serde(default = "default_max_concurrent_runs")]
    pub max_concurrent_runs: usize,
    /// Runs in progress at once for one tenant, so one tenant's many flows
    /// cannot take every slot.
    #[serde(default = "default_max_concurrent_runs_per_tenant")]
    pub max_concurrent_runs_per_tenant: usize,
    /// How often the scheduler looks for due flows (`"1s"`, `"250ms"`): a run
    /// starts at most this late. At least 10 ms.
    #[serde(default = "default_tick", deserialize_with = "duration")]
    pub tick: Duration,
    /// Share of a flow's period (from 0 up to, not including, 1) by which its runs
    /// are delayed, so that tenants do not all call a vendor at the top of the
    /// minute. Each flow gets a fixed delay within that window, derived from a
    /// hash of its tenant and name: the same on every start.
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// How long a shutdown waits for running runs to finish their batch in
    /// progress and commit. Runs still going then are left to be marked
    /// interrupted at the next start, and the process exits 1.
    #[serde(default = "default_shutdown_grace", deserialize_with = "duration")]
    pub shutdown_grace: Duration,
}

const fn default_listen() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7878)
}

const fn default_max_concurrent_runs() -> usize {
    4
}

const fn default_max_concurrent_runs_per_tenant() -> usize {
    2
}

const fn default_tick() -> Duration {
    Duration::from_secs(1)
}

const fn default_jitter() -> f64 {
    0.1
}

const fn default_shutdown_grace() -> Duration {
    Duration::from_secs(300)
}

/// Shortest scheduler tick.
const MIN_TICK: Duration = Duration::from_millis(10);

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: default_listen(),
            metrics_listen: None,
            scheduler: SchedulerConfig::default(),
            tokens: Vec::new(),
        }
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_concurrent_runs: default_max_concurrent_runs(),
            max_concurrent_runs_per_tenant: default_max_concurrent_runs_per_tenant(),
            tick: default_tick(),
            jitter: default_jitter(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// How `tenon serve` writes its logs to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the fields of the enclosing spans (tenant,
    /// flow, run).
    Json,
}

/// The flags of `tenon serve`; each overrides its setting in the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// A TOML configuration file (see the README's "Server mode").
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address of the HTTP listener [default: 127.0.0.1:7878].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Runs in progress at once, over all tenants [default: 4].
    #[arg(long, value_name = "N")]
    pub max_concurrent_runs: Option<usize>,
    /// Runs in progress at once for one tenant [default: 2].
    #[arg(long, value_name = "N")]
    pub max_concurrent_runs_per_tenant: Option<usize>,
    /// How often the scheduler looks for due flows [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub tick: Option<Duration>,
    /// Share of a flow's period its runs are delayed by, per flow [default: 0.1].
    #[arg(long, value_name = "FRACTION")]
    pub jitter: Option<f64>,
    /// How long a shutdown waits for running runs [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub shutdown_grace: Option<Duration>,
    /// Log lines as text or as JSON objects.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl ServeConfig {
    /// Parses a configuration file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ServeConfig> {
        let config: ServeConfig = toml::from_str(text).map_err(|e| {
            Error::Invalid(format!(
                "configuration file `{origin}` refused: {}",
                e.to_string().trim_end()
            ))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The tokens with their secrets, read from their files where they have one.
    /// Refuses a token without exactly one of `secret` and `secret_file`, a short
    /// secret, and two tokens with the same name or secret.
    pub fn token_secrets(&self) -> Result<Vec<(TokenConfig, String)>> {
        let mut read = Vec::new();
        for token in &self.tokens {
            let secret = match (&token.secret, &token.secret_file) {
                (Some(secret), None) => secret.clone(),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map_err(|e| {
                        Error::Invalid(format!(
                            "could not read the secret file `{}` of token `{}`: {e}",
                            path.display(),
                            token.name
                        ))
                    })?
                    .trim_end_matches(['\n', '\r'])
                    .to_owned(),
                _ => {
                    return Err(Error::Invalid(format!(
                        "token `{}` needs exactly one of `secret` and `secret_file`",
                        token.name
                    )));
                }
            };
            if secret.len() < MIN_SECRET_LEN {
                return Err(Error::Invalid(format!(
                    "the secret of token `{}` must be at least {MIN_SECRET_LEN} characters",
                    token.name
                )));
            }
            if read
                .iter()
                .any(|(_, s): &(TokenConfig, String)| *s == secret)
            {
                return Err(Error::Invalid(format!(
                    "token `{}` has the same secret as another token",
                    token.name
                )));
            }
            read.push((token.clone(), secret));
        }
        Ok(read)
    }

    /// The file named by `--config` (or the defaults), with the flags applied.
    pub fn load(args: &ServeArgs) -> Result<ServeConfig> {
        let mut config = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::Invalid(format!(
                        "could not read configuration file `{}`: {e}",
                        path.display()
                    ))
                })?;
                ServeConfig::parse(&text, &path.display().to_string())?
            }
            None => ServeConfig::default(),
        };
        let scheduler = &mut config.scheduler;
        if let Some(listen) = args.listen {
            config.listen = listen;
        }
        if let Some(n) = args.max_concurrent_runs {
            scheduler.max_concurrent_runs = n;
        }
        if let Some(n) = args.max_concurrent_runs_per_tenant {
            scheduler.max_concurrent_runs_per_tenant = n;
        }
        if let Some(tick) = args.tick {
            scheduler.tick = tick;
        }
        if let Some(jitter) = args.jitter {
            scheduler.jitter = jitter;
        }
        if let Some(grace) = args.shutdown_grace {
            scheduler.shutdown_grace = grace;
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let s = &self.scheduler;
        let refuse = |message: String| Err(Error::Invalid(message));
        if s.max_concurrent_runs == 0 || s.max_concurrent_runs_per_tenant == 0 {
            return refuse(
                "`max_concurrent_runs` and `max_concurrent_runs_per_tenant` must be at least 1"
                    .into(),
            );
        }
        if s.tick < MIN_TICK {
            return refuse(format!(
                "`tick` must be at least {}, not {}",
                format_duration(MIN_TICK),
                format_duration(s.tick)
            ));
        }
        if !(0.0..1.0).contains(&s.jitter) {
            return refuse(format!(
                "`jitter` must be at least 0 and less than 1, not {}",
                s.jitter
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for token in &self.tokens {
            if token.name.is_empty() || !names.insert(token.name.as_str()) {
                return refuse(format!(
                    "token names must be non-empty and unique: `{}`",
                    token.name
                ));
            }
            match (token.role, &token.tenant) {
                (Role::Tenant, None) => {
                    return refuse(format!(
                        "token `{}` has role `tenant` but names no `tenant`",
                        token.name
                    ));
                }
                (Role::Operator, Some(_)) => {
                    return refuse(format!(
                        "token `{}` has role `operator`, which acts for every tenant: remove `tenant`",
                        token.name
                    ));
                }
                _ => {}
            }
            if token.secret.is_some() == token.secret_file.is_some() {
                return refuse(format!(
                    "token `{}` needs exactly one of `secret` and `secret_file`",
                    token.name
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_means_the_documented_defaults() {
        let config = ServeConfig::parse("", "empty.toml").unwrap();
        assert_eq!(config, ServeConfig::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:7878");
        assert_eq!(config.scheduler.max_concurrent_runs, 4);
        assert_eq!(config.scheduler.max_concurrent_runs_per_tenant, 2);
        assert_eq!(config.scheduler.tick, Duration::from_secs(1));
        assert_eq!(config.scheduler.jitter, 0.1);
    }

    #[test]
    fn every_field_is_read() {
        let config = ServeConfig::parse(
            r#"
            listen = "127.0.0.1:9000"
            [scheduler]
            max_concurrent_runs = 8
            max_concurrent_runs_per_tenant = 3
            tick = "250ms"
            jitter = 0.25
            shutdown_grace = "30s"
            "#,
            "full.toml",
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        let s = &config.scheduler;
        assert_eq!(
            (s.max_concurrent_runs, s.max_concurrent_runs_per_tenant),
            (8, 3)
        );
        assert_eq!(s.tick, Duration::from_millis(250));
        assert_eq!(s.jitter, 0.25);
        assert_eq!(s.shutdown_grace, Duration::from_secs(30));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name() {
        for (text, expected) in [
            (
                "listen_addr = \"127.0.0.1:1\"",
                "unknown field `listen_addr`",
            ),
            ("[scheduler]\nmax_runs = 3", "unknown field `max_runs`"),
            ("[schedular]", "unknown field `schedular`"),
            ("[scheduler]\ntick = \"soon\"", "`soon` is not a duration"),
            (
                "[scheduler]\ntick = \"1ms\"",
                "`tick` must be at least 10ms",
            ),
            ("[scheduler]\njitter = 1.0", "`jitter` must be at least 0"),
            ("[scheduler]\nmax_concurrent_runs = 0", "must be at least 1"),
        ] {
            let error = ServeConfig::parse(text, "bad.toml").unwrap_err();
            assert_eq!(error.exit_code(), 4);
            let message = error.to_string();
            assert!(message.contains(expected), "{text:?}: {message}");
        }
    }

    #[test]
    fn tokens_are_read_and_checked() {
        let config = ServeConfig::parse(
            r#"
            [[token]]
            name = "ops"
            role = "operator"
            secret = "0123456789abcdef-ops"
            [[token]]
            name = "acme"
            role = "tenant"
            tenant = "acme"
            secret = "0123456789abcdef-acme"
            "#,
            "tokens.toml",
        )
        .unwrap();
        let tokens = config.token_secrets().unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[1].0.tenant.as_deref(), Some("acme"));
        assert!(!format!("{config:?}").contains("0123456789abcdef"));

        let token = |name: &str, extra: &str| {
            format!("[[token]]\nname = \"{name}\"\nrole = \"operator\"\n{extra}\n")
        };
        for (text, expected) in [
            (
                token("a", "secret = \"0123456789abcdef\"")
                    + &token("a", "secret = \"fedcba9876543210\""),
                "unique",
            ),
            (token("a", ""), "exactly one of"),
            (token("a", "secret = \"x\"\nkey = 1"), "unknown field `key`"),
            (
                "[[token]]\nname = \"t\"\nrole = \"tenant\"\nsecret = \"0123456789abcdef\"".into(),
                "names no `tenant`",
            ),
            (token("a", "secret = \"x\"\nrole2 = 1"), "unknown field"),
        ] {
            let error = ServeConfig::parse(&text, "bad.toml").unwrap_err();
            assert!(error.to_string().contains(expected), "{text}: {error}");
        }
        let same = ServeConfig::parse(
            &(token("a", "secret = \"0123456789abcdef\"")
                + &token("b", "secret = \"0123456789abcdef\"")),
            "same.toml",
        )
        .unwrap();
        let error = same.token_secrets().unwrap_err();
        assert!(error.to_string().contains("same secret"), "{error}");
        let short = ServeConfig::parse(&token("a", "secret = \"short\""), "short.toml").unwrap();
        assert!(short.token_secrets().is_err());
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tenon.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\n[scheduler]\nmax_concurrent_runs = 8\njitter = 0.3\n",
        )
        .unwrap();
        let config = ServeConfig::load(&ServeArgs {
            config: Some(path),
            max_concurrent_runs: Some(2),
            tick: Some(Duration::from_millis(100)),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(config.listen.port(), 9000, "from the file");
        assert_eq!(config.scheduler.jitter, 0.3, "from the file");
        assert_eq!(config.scheduler.max_concurrent_runs, 2, "from the flag");
        assert_eq!(config.scheduler.tick, Duration::from_millis(100));
        assert_eq!(config.scheduler.max_concurrent_runs_per_tenant, 2);

        let error = ServeConfig::load(&ServeArgs {
            config: Some(dir.path().join("missing.toml")),
            ..ServeArgs::default()
        })
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("could not read configuration file")
        );
    }
}
