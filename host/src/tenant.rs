//! Tenants and what each has enabled: a plugin's configuration, secrets, egress
//! grants and limits for that tenant. Owns the validation of an enablement against
//! the plugin's descriptor; storage is [`crate::state`]'s.

use crate::capability::http::Grant;
use crate::limits::LimitOverrides;
use crate::plugin::{Installed, World};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Secrets named with this prefix are optional: a plugin verifies webhooks with
/// them, and a tenant that sets none takes no webhooks from it.
pub const WEBHOOK_SECRET_PREFIX: &str = "webhook_";

/// A customer of the operator, whose systems Tenon keeps in sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    /// Unix time in milliseconds.
    pub created_at: u64,
}

/// A plugin enabled for a tenant, with everything it runs with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enablement {
    pub tenant: String,
    pub plugin: String,
    /// Values of the plugin's declared config keys.
    pub config: BTreeMap<String, String>,
    /// Values of the plugin's declared secrets; applied by the host to HTTP
    /// requests, never shown to the guest, never printed.
    pub secrets: BTreeMap<String, String>,
    /// Hosts the plugin may reach for this tenant.
    pub grants: Vec<Grant>,
    /// Limits for this tenant, over the plugin's.
    pub limits: LimitOverrides,
    /// Unix time in milliseconds.
    pub enabled_at: u64,
}

impl std::fmt::Debug for Enablement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enablement")
            .field("tenant", &self.tenant)
            .field("plugin", &self.plugin)
            .field("config", &self.config)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("grants", &self.grants)
            .field("limits", &self.limits)
            .finish()
    }
}

/// An enablement as shown to operators and kept in the audit log: secret names,
/// never their values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnablementView {
    pub tenant: String,
    pub plugin: String,
    pub config: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    pub grants: Vec<String>,
    pub limits: LimitOverrides,
}

impl Enablement {
    /// What may be shown of this enablement: everything but secret values.
    pub fn view(&self) -> EnablementView {
        EnablementView {
            tenant: self.tenant.clone(),
            plugin: self.plugin.clone(),
            config: self.config.clone(),
            secrets: self.secrets.keys().cloned().collect(),
            grants: self.grants.iter().map(ToString::to_string).collect(),
            limits: self.limits,
        }
    }

    /// Checks this enablement against what the plugin declares: no unknown config
    /// keys or secrets, every required key and every secret set, no grants for a
    /// transform, usable limits. The message says what to change.
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
        for name in self.secrets.keys() {
            if !d.secrets.contains(name) {
                return Err(format!(
                    "`{}` asks for no secret `{name}`; it declares: {}",
                    d.name,
                    list(d.secrets.iter().map(String::as_str))
                ));
            }
        }
        for (name, value) in &self.secrets {
            if let Some(Err(e)) = crate::capability::oauth::TokenGrant::from_secret(value) {
                return Err(format!("secret `{name}` is {e}"));
            }
        }
        for name in &d.secrets {
            if !self.secrets.contains_key(name) && !name.starts_with(WEBHOOK_SECRET_PREFIX) {
                return Err(format!(
                    "`{}` needs secret `{name}`: add --secret {name}=...",
                    d.name
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
