//! Plugin versions: every version ever installed stays (its record in the state
//! tree `plugin_versions`, its component file in `components/`), one of them is
//! current (tree `plugins`). Owns listing them, rolling back to the previously
//! installed one, resolving a flow's pins (`flow add --pin plugin@version`) and
//! the rule that a version runs for a tenant only once the tenant granted every
//! egress host it declares, so an upgrade that needs a new host waits for a new
//! grant. Installing is [`Tenon::install`]'s; storage is [`crate::state`]'s.

use crate::capability::http::Grant;
use crate::error::{Error, Result};
use crate::flow::Flow;
use crate::host::{Tenon, now_ms};
use crate::plugin::Installed;
use crate::sync::Step;
use crate::tenant::Enablement;
use std::collections::BTreeMap;

impl Tenon {
    /// Every installed version of a plugin, oldest installation first.
    pub fn plugin_versions(&self, id: &str) -> Result<Vec<Installed>> {
        let versions = self.state()?.plugin_versions(id)?;
        if versions.is_empty() {
            return Err(Error::not_found("plugin", id));
        }
        Ok(versions)
    }

    /// Makes the version installed before the current one current again, for
    /// every flow that does not pin the plugin; recorded in the audit log.
    /// Refused when no version was installed before the current one.
    pub fn rollback(&self, id: &str, actor: &str) -> Result<Installed> {
        let current = self.plugin(id)?;
        let previous = self
            .state()?
            .plugin_versions(id)?
            .into_iter()
            .rfind(|v| v.installed_at < current.installed_at && v.version != current.version)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "plugin `{id}` has no version installed before {}: nothing to roll back to",
                    current.version
                ))
            })?;
        // Its component must still load before it becomes current.
        self.prepared(&previous)?;
        self.state()?.set_current_plugin(&previous)?;
        self.state()?.audit(crate::delivery::AuditEntry {
            id: 0,
            at: now_ms(),
            actor: actor.to_owned(),
            action: "plugin.rollback".into(),
            subject: format!("plugin/{id}"),
            detail: serde_json::json!({
                "before": { "version": current.version, "sha256": current.sha256 },
                "after": { "version": previous.version, "sha256": previous.sha256 },
            }),
        })?;
        tracing::info!(plugin = %id, from = %current.version, to = %previous.version, "Plugin rolled back");
        Ok(previous)
    }

    /// Checks a flow's pins: each names a plugin of the flow and an installed
    /// version of it that has the flow's stream. Returns the sha256 of each
    /// pinned version.
    pub(crate) fn check_pins(&self, flow: &Flow) -> Result<BTreeMap<String, String>> {
        let mut digests = BTreeMap::new();
        for (plugin, version) in &flow.pins {
            let stream = if *plugin == flow.source.plugin {
                Some(&flow.source.stream)
            } else if *plugin == flow.destination.plugin {
                Some(&flow.destination.stream)
            } else if flow.transforms.contains(plugin) {
                None
            } else {
                return Err(Error::Invalid(format!(
                    "flow `{}` pins `{plugin}`, which it does not use",
                    flow.name
                )));
            };
            let installed = self.installed_version(plugin, version)?;
            if let Some(stream) = stream
                && installed.descriptor.stream(stream).is_none()
            {
                return Err(Error::Invalid(format!(
                    "`{plugin}` {version} has no stream `{stream}`"
                )));
            }
            digests.insert(plugin.clone(), installed.sha256);
        }
        Ok(digests)
    }

    /// A plugin of `flow` resolved for its tenant, at the version the flow pins,
    /// or the current one.
    pub(crate) fn flow_step(&self, flow: &Flow, plugin: &str) -> Result<Step> {
        match flow.pins.get(plugin) {
            Some(version) => {
                let installed = self.installed_version(plugin, version)?;
                if let Some(pinned) = flow.pin_sha256.get(plugin)
                    && *pinned != installed.sha256
                {
                    return Err(Error::Invalid(format!(
                        "flow `{}` pins `{plugin}` {version} with sha256 {pinned}, but the installed {version} is {}: refused",
                        flow.name, installed.sha256
                    )));
                }
                self.step_of(&flow.tenant, &installed)
            }
            None => self.step(&flow.tenant, plugin),
        }
    }

    /// One installed version of a plugin.
    pub fn installed_version(&self, plugin: &str, version: &str) -> Result<Installed> {
        self.state()?
            .plugin_version(plugin, version)?
            .ok_or_else(|| Error::not_found("plugin version", format!("{plugin}@{version}")))
    }
}

/// Refuses a call of `plugin` (at its version) for the enablement's tenant unless
/// the tenant's grants cover every egress host that version declares: a version
/// that needs a new host waits for the operator to grant it.
pub(crate) fn check_egress(enablement: &Enablement, plugin: &Installed) -> Result<()> {
    let missing = uncovered(&enablement.grants, &plugin.descriptor.egress);
    if missing.is_empty() {
        return Ok(());
    }
    let grants: Vec<String> = missing.iter().map(|h| format!("--grant {h}")).collect();
    Err(Error::Invalid(format!(
        "plugin `{}` {} needs egress to {}, which tenant `{}` has not granted: \
         add it to the tenant's grants (`tenon enable {} {} ... {}`) or pin the flow to a version that does not need it",
        plugin.id,
        plugin.version,
        missing.join(", "),
        enablement.tenant,
        enablement.tenant,
        plugin.id,
        grants.join(" ")
    )))
}

/// The declared egress hosts none of `grants` covers.
pub fn uncovered(grants: &[Grant], declared: &[String]) -> Vec<String> {
    declared
        .iter()
        .filter(|host| match host.parse::<Grant>() {
            Ok(host) => !grants.iter().any(|g| g.covers(&host)),
            Err(_) => true,
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(hosts: &[&str]) -> Vec<Grant> {
        hosts.iter().map(|h| h.parse().unwrap()).collect()
    }

    #[test]
    fn declared_hosts_are_covered_by_host_grants_or_matching_ports() {
        let declared = vec![
            "api.ledger.example".to_owned(),
            "erp.example.com:8443".to_owned(),
        ];
        assert_eq!(
            uncovered(
                &grants(&["api.ledger.example", "erp.example.com"]),
                &declared
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            uncovered(
                &grants(&["API.ledger.example:443", "erp.example.com:8443"]),
                &declared
            ),
            vec!["api.ledger.example".to_owned()]
        );
        assert_eq!(uncovered(&[], &declared), declared);
    }
}
