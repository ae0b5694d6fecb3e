//! Tenants, the operator's policy for each, and what each has enabled: a
//! plugin's configuration, secrets (each bound to the hosts it is for), egress
//! grants and limits for that tenant. Owns the validation of an enablement
//! against the plugin's descriptor, and of what a tenant token may set against
//! the operator's policy; storage is [`crate::state`]'s.

use crate::capability::http::Grant;
use crate::capability::http::oauth::TokenGrant;
use crate::capability::secret::{MIN_SECRET_BYTES, Secret};
use crate::limits::{LimitOverrides, Limits};
use crate::plugin::{Installed, SecretScheme, World};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A customer of the operator, whose systems Tenon keeps in sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    /// Unix time in milliseconds.
    pub created_at: u64,
    /// What the operator allows for this tenant.
    #[serde(default)]
    pub policy: Policy,
}

/// What the operator allows a tenant: which hosts a tenant token may grant its
/// plugins, which non-public networks its plugins may reach, and the limits a
/// tenant token may not exceed. Only an operator sets it; empty by default: a
/// tenant token can then grant nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Hosts (`host` or `host:port`) a tenant token may grant; a grant must fall
    /// inside one of them.
    #[serde(default)]
    pub egress: Vec<Grant>,
    /// Loopback, private or link-local networks (`10.1.0.0/16`) the tenant's
    /// plugins may connect to, also through host names that resolve there.
    /// Addresses an operator grants by number are allowed without this.
    #[serde(default)]
    pub networks: Vec<IpNet>,
    /// The most a tenant token may set each limit to (over the plugin's).
    #[serde(default)]
    pub limits: LimitOverrides,
}

impl Policy {
    /// Checks the values; the message names the offending one.
    pub fn validate(&self) -> Result<(), String> {
        self.limits.validate()
    }
}

/// A plugin enabled for a tenant, with everything it runs with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enablement {
    pub tenant: String,
    pub plugin: String,
    /// Values of the plugin's declared config keys.
    pub config: BTreeMap<String, String>,
    /// Values of the plugin's declared secrets, each with the hosts it may go
    /// to; applied by the host, never shown to the guest, never printed, and
    /// sealed at rest (see [`crate::state`]).
    pub secrets: BTreeMap<String, Secret>,
    /// Hosts the plugin may reach for this tenant.
    pub grants: Vec<Grant>,
    /// Limits for this tenant, over the plugin's.
    pub limits: LimitOverrides,
    /// The limits an operator set for this enablement: a tenant token that
    /// enables the plugin again keeps them and may only go below them.
    #[serde(default, skip_serializing_if = "LimitOverrides::is_empty")]
    pub operator_limits: LimitOverrides,
    /// Unix time in milliseconds.
    pub enabled_at: u64,
}

impl std::fmt::Debug for Enablement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enablement")
            .field("tenant", &self.tenant)
            .field("plugin", &self.plugin)
            .field("config", &self.config)
            .field("secrets", &self.secrets)
            .field("grants", &self.grants)
            .field("limits", &self.limits)
            .finish()
    }
}

/// An enablement as shown to operators and kept in the audit log: secret names
/// and the hosts each is bound to, never their values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnablementView {
    pub tenant: String,
    pub plugin: String,
    pub config: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    /// Secret name -> the hosts it may be sent to.
    #[serde(default)]
    pub secret_hosts: BTreeMap<String, Vec<String>>,
    pub grants: Vec<String>,
    pub limits: LimitOverrides,
}

impl Enablement {
    /// A plugin enabled with nothing set.
    pub fn new(tenant: &str, plugin: &str) -> Enablement {
        Enablement {
            tenant: tenant.to_owned(),
            plugin: plugin.to_owned(),
            config: BTreeMap::new(),
            secrets: BTreeMap::new(),
            grants: Vec::new(),
            limits: LimitOverrides::default(),
            operator_limits: LimitOverrides::default(),
            enabled_at: 0,
        }
    }

    /// This enablement with secret `name` set to `value`, bound to every host it
    /// grants (call it once the grants are set).
    pub fn with_secret(mut self, name: &str, value: impl Into<String>) -> Enablement {
        let hosts = self.grants.clone();
        self.secrets
            .insert(name.to_owned(), Secret::for_hosts(value, hosts));
        self
    }

    /// What may be shown of this enablement: everything but secret values.
    pub fn view(&self) -> EnablementView {
        EnablementView {
            tenant: self.tenant.clone(),
            plugin: self.plugin.clone(),
            config: self.config.clone(),
            secrets: self.secrets.keys().cloned().collect(),
            secret_hosts: self
                .secrets
                .iter()
                .map(|(name, s)| {
                    (
                        name.clone(),
                        s.hosts.iter().map(ToString::to_string).collect(),
                    )
                })
                .collect(),
            grants: self.grants.iter().map(ToString::to_string).collect(),
            limits: self.limits,
        }
    }

    /// Checks this enablement against what the plugin declares: no unknown config
    /// keys or secrets, every required key and secret set, each secret usable
    /// (long enough to be told apart, bound to granted hosts if it is sent, an
    /// OAuth grant whose token endpoint is granted), no grants for a transform,
    /// usable limits. The message says what to change.
    pub fn validate(&self, plugin: &Installed) -> Result<(), String> {
        let d = &plugin.descriptor;
        for key in self.config.keys() {
            if !d.config.iter().any(|c| &c.name == key) {
                return Err(format!(
                    "`{}` has no config key `{key}`; it declares: {}",
                    d.name,
                    list(d.config.iter().map(|c| c.name.as_str()))
                ));
            }
        }
        for key in d
            .config
            .iter()
            .filter(|c| c.required && c.default.is_none())
        {
            if !self.config.contains_key(&key.name) {
                return Err(format!(
                    "`{}` requires config key `{}` ({}): add --config {}=...",
                    d.name, key.name, key.description, key.name
                ));
            }
        }
        for (name, secret) in &self.secrets {
            let Some(declared) = d.secret(name) else {
                return Err(format!(
                    "`{}` asks for no secret `{name}`; it declares: {}",
                    d.name,
                    list(d.secrets.iter().map(|s| s.name.as_str()))
                ));
            };
            self.validate_secret(name, secret, &declared.scheme)?;
        }
        for secret in d.secrets.iter().filter(|s| s.required) {
            if !self.secrets.contains_key(&secret.name) {
                return Err(format!(
                    "`{}` needs secret `{}`{}: add --secret-file {}=PATH --secret-host {}=HOST",
                    d.name,
                    secret.name,
                    if secret.description.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", secret.description)
                    },
                    secret.name,
                    secret.name,
                ));
            }
        }
        if plugin.world == World::Transform && !self.grants.is_empty() {
            return Err(format!(
                "`{}` is a transform: transforms have no network, so no grants",
                d.name
            ));
        }
        self.limits.validate()
    }

    fn validate_secret(
        &self,
        name: &str,
        secret: &Secret,
        scheme: &SecretScheme,
    ) -> Result<(), String> {
        if secret.value.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "secret `{name}` is shorter than {MIN_SECRET_BYTES} bytes; the host removes every appearance of a secret from what vendors answer, which needs it to be distinctive"
            ));
        }
        let sent = match scheme {
            SecretScheme::Hmac => false,
            // A 0.1.0 plugin's secret without hosts can only verify signatures.
            SecretScheme::Legacy => !secret.hosts.is_empty() || !name.starts_with("webhook_"),
            _ => true,
        };
        if !sent && !secret.hosts.is_empty() {
            return Err(format!(
                "secret `{name}` only verifies signatures and is never sent: it takes no hosts"
            ));
        }
        if sent && secret.hosts.is_empty() {
            return Err(format!(
                "secret `{name}` is sent to the vendor: name the hosts it is for with --secret-host {name}=HOST (https only, unless loopback or --secret-allow-http {name})"
            ));
        }
        for host in &secret.hosts {
            if !self.grants.iter().any(|g| g.covers(host)) {
                return Err(format!(
                    "secret `{name}` is for {host}, which is not granted: add --grant {host}"
                ));
            }
        }
        if let Some(grant) = TokenGrant::from_secret(&secret.value) {
            let grant = grant.map_err(|e| format!("secret `{name}` is {e}"))?;
            if !matches!(scheme, SecretScheme::Bearer | SecretScheme::Legacy) {
                return Err(format!(
                    "secret `{name}` holds an OAuth 2 grant, but the plugin applies it as {scheme}; a grant applies only as a bearer token"
                ));
            }
            let token_host = reqwest::Url::parse(&grant.token_url)
                .ok()
                .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
                .unwrap_or_default();
            let covered = token_host
                .parse::<Grant>()
                .is_ok_and(|t| self.grants.iter().any(|g| g.covers(&t)));
            if !covered {
                return Err(format!(
                    "secret `{name}` is an OAuth 2 grant whose token endpoint {token_host} is not granted: add --grant {token_host}"
                ));
            }
        }
        Ok(())
    }

    /// Checks what a tenant token asks for against the operator's policy: each
    /// grant inside the policy's egress, each limit at most the operator's
    /// (`ceiling`). The message says what the operator must allow first.
    pub fn within(&self, policy: &Policy, ceiling: &Limits) -> Result<(), String> {
        let allowed: Vec<String> = policy.egress.iter().map(ToString::to_string).collect();
        for grant in &self.grants {
            if !policy.egress.iter().any(|allowed| allowed.covers(grant)) {
                return Err(format!(
                    "a tenant token may grant only hosts the operator allowed for tenant `{}` (tenon tenant policy {} --allow-egress HOST); `{grant}` is not among them ({})",
                    self.tenant,
                    self.tenant,
                    list(allowed.iter().map(String::as_str))
                ));
            }
        }
        let above = self.limits.above(ceiling);
        if !above.is_empty() {
            return Err(format!(
                "a tenant token may only lower the operator's limits: {} above them",
                above.join(", ")
            ));
        }
        Ok(())
    }

    /// The configuration a call sees: the operator's values over the declared defaults.
    pub fn effective_config(&self, plugin: &Installed) -> BTreeMap<String, String> {
        let mut config: BTreeMap<String, String> = plugin
            .descriptor
            .config
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.default.clone()?)))
            .collect();
        config.extend(self.config.clone());
        config
    }
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
