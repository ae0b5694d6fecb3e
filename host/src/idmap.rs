//! The id map as plugins reach it through the `idmap` import: who may write
//! which namespace of a tenant. Namespaces `flow:<name>` are the host's (it
//! links the records each flow delivers there, and reconciliation trusts them):
//! plugins may read them, never write them. Any other namespace belongs to the
//! plugin that linked in it first; another plugin may write it only once the
//! operator shares it (`tenon idmap share`). Reading is open within the tenant.
//! Storage is [`crate::state`]'s.

use crate::GuestError;
use crate::capability::idmap::Links;
use crate::error::{Error, Result};
use crate::host::Tenon;
use crate::state::{NamespaceOwner, State};

/// The namespaces the host writes, by prefix.
pub const HOST_NAMESPACE_PREFIX: &str = "flow:";

/// The id map of the host's state, for plugin calls.
#[derive(Debug, Clone)]
pub struct StateLinks(pub State);

impl Links for StateLinks {
    fn link(
        &self,
        tenant: &str,
        plugin: &str,
        namespace: &str,
        source: &str,
        target: &str,
    ) -> std::result::Result<(), GuestError> {
        if namespace.starts_with(HOST_NAMESPACE_PREFIX) {
            return Err(GuestError::Denied {
                message: format!(
                    "id-map namespace `{namespace}` belongs to the host, which links there what flows deliver; a plugin may read it but not write it"
                ),
            });
        }
        let failed = |e: anyhow::Error| GuestError::Retryable {
            message: format!("could not store the link: {e:#}"),
        };
        let owner = self
            .0
            .claim_namespace(tenant, namespace, plugin)
            .map_err(failed)?;
        if owner.owner != plugin && !owner.shared.iter().any(|p| p == plugin) {
            return Err(GuestError::Denied {
                message: format!(
                    "id-map namespace `{namespace}` of tenant `{tenant}` belongs to plugin `{}`; the operator may share it (tenon idmap share {tenant} {namespace} {plugin})",
                    owner.owner
                ),
            });
        }
        self.0
            .link(tenant, namespace, source, target)
            .map_err(failed)
    }

    fn resolve(&self, tenant: &str, namespace: &str, source: &str) -> Option<String> {
        self.0.resolve(tenant, namespace, source).ok().flatten()
    }

    fn reverse(&self, tenant: &str, namespace: &str, target: &str) -> Option<String> {
        self.0.reverse(tenant, namespace, target).ok().flatten()
    }
}

impl Tenon {
    /// Lets `plugin` write `namespace` of `tenant` beside its owner (audited).
    /// A namespace no plugin wrote yet gets `plugin` as its owner.
    pub fn share_namespace(
        &self,
        tenant: &str,
        namespace: &str,
        plugin: &str,
        actor: &str,
    ) -> Result<NamespaceOwner> {
        self.tenant(tenant)?;
        self.plugin(plugin)?;
        if namespace.starts_with(HOST_NAMESPACE_PREFIX) {
            return Err(Error::Invalid(format!(
                "namespace `{namespace}` belongs to the host; it cannot be shared with plugins"
            )));
        }
        if namespace.is_empty() || namespace.contains('\0') {
            return Err(Error::Invalid(
                "a namespace must be non-empty, without NUL".into(),
            ));
        }
        let before = self.state()?.namespace_owner(tenant, namespace)?;
        let mut owner = self.state()?.claim_namespace(tenant, namespace, plugin)?;
        if owner.owner != plugin && !owner.shared.iter().any(|p| p == plugin) {
            owner.shared.push(plugin.to_owned());
            self.state()?.put_namespace_owner(tenant, &owner)?;
        }
        self.audit(
            actor,
            "idmap.share",
            format!("{tenant}/idmap/{namespace}"),
            serde_json::json!({ "before": before, "after": owner }),
        )?;
        Ok(owner)
    }

    /// A tenant's id-map namespaces and who may write each.
    pub fn namespace_owners(&self, tenant: &str) -> Result<Vec<NamespaceOwner>> {
        self.tenant(tenant)?;
        Ok(self.state()?.namespace_owners(tenant)?)
    }
}
