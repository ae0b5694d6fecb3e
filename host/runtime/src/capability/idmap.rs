//! `tenon:connector/idmap`: per-tenant cross-references between the ids two
//! systems give the same thing. The capability checks what the guest passes
//! and asks the host's [`Links`] (the call's input) for the rest: this crate
//! does not store links, and the host decides which namespaces a plugin may
//! write (its own; never the host's).

use super::Capability;
use crate::bindings::{v0_1, v0_2};
use crate::call::{CallContext, CallState, States};
use crate::descriptor::World;
use crate::error::GuestError;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Longest namespace or id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// The host's id map, as the capability uses it: every call names the tenant
/// and the plugin it is made for.
pub trait Links: Send + Sync + 'static {
    /// Links `source` to `target` in `namespace`, replacing earlier links of
    /// either. `denied` when the plugin may not write that namespace.
    fn link(
        &self,
        tenant: &str,
        plugin: &str,
        namespace: &str,
        source: &str,
        target: &str,
    ) -> Result<(), GuestError>;
    /// The target linked to `source`, if any.
    fn resolve(&self, tenant: &str, namespace: &str, source: &str) -> Option<String>;
    /// The source linked to `target`, if any.
    fn reverse(&self, tenant: &str, namespace: &str, target: &str) -> Option<String>;
}

/// The call's input: the id map the call may use.
#[derive(Clone)]
pub struct Scope(pub Arc<dyn Links>);

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scope")
    }
}

/// Per-call state.
#[derive(Debug)]
pub struct GuestIdMap {
    tenant: Arc<str>,
    plugin: Arc<str>,
    links: Option<Arc<Scope>>,
}

fn check(what: &str, value: &str) -> Result<(), GuestError> {
    if value.is_empty() || value.len() > MAX_ID_BYTES || value.contains('\0') {
        return Err(GuestError::Permanent {
            message: format!(
                "id-map {what} must be 1-{MAX_ID_BYTES} bytes without NUL, got {} bytes",
                value.len()
            ),
        });
    }
    Ok(())
}

impl GuestIdMap {
    fn links(&self) -> Result<&dyn Links, GuestError> {
        self.links
            .as_ref()
            .map(|scope| &*scope.0)
            .ok_or_else(|| GuestError::Denied {
                message: "the id map is not available outside a tenant's call".into(),
            })
    }

    fn link(&self, namespace: &str, source: &str, target: &str) -> Result<(), GuestError> {
        check("namespace", namespace)?;
        check("source id", source)?;
        check("target id", target)?;
        self.links()?
            .link(&self.tenant, &self.plugin, namespace, source, target)
    }

    fn resolve(&self, namespace: &str, source: &str) -> Option<String> {
        check("namespace", namespace).ok()?;
        self.links().ok()?.resolve(&self.tenant, namespace, source)
    }

    fn reverse(&self, namespace: &str, target: &str) -> Option<String> {
        check("namespace", namespace).ok()?;
        self.links().ok()?.reverse(&self.tenant, namespace, target)
    }
}

impl v0_2::idmap::Host for GuestIdMap {
    fn link(
        &mut self,
        namespace: String,
        source_id: String,
        target_id: String,
    ) -> Result<(), v0_2::types::Error> {
        GuestIdMap::link(self, &namespace, &source_id, &target_id).map_err(Into::into)
    }

    fn resolve(&mut self, namespace: String, source_id: String) -> Option<String> {
        GuestIdMap::resolve(self, &namespace, &source_id)
    }

    fn reverse(&mut self, namespace: String, target_id: String) -> Option<String> {
        GuestIdMap::reverse(self, &namespace, &target_id)
    }
}

impl v0_1::idmap::Host for GuestIdMap {
    fn link(
        &mut self,
        namespace: String,
        source_id: String,
        target_id: String,
    ) -> Result<(), v0_1::types::Error> {
        GuestIdMap::link(self, &namespace, &source_id, &target_id).map_err(Into::into)
    }

    fn resolve(&mut self, namespace: String, source_id: String) -> Option<String> {
        GuestIdMap::resolve(self, &namespace, &source_id)
    }

    fn reverse(&mut self, namespace: String, target_id: String) -> Option<String> {
        GuestIdMap::reverse(self, &namespace, &target_id)
    }
}

struct HasIdMap;

impl HasData for HasIdMap {
    type Data<'a> = &'a mut GuestIdMap;
}

/// The `idmap` capability.
#[derive(Debug)]
pub struct IdMap;

impl Capability for IdMap {
    fn add_to_linker(&self, linker: &mut Linker<CallState>, _world: World) -> anyhow::Result<()> {
        v0_2::idmap::add_to_linker::<CallState, HasIdMap>(linker, CallState::get::<GuestIdMap>)?;
        v0_1::idmap::add_to_linker::<CallState, HasIdMap>(linker, CallState::get::<GuestIdMap>)?;
        Ok(())
    }

    fn prepare(&self, call: &CallContext, states: &mut States) {
        states.insert(GuestIdMap {
            tenant: call.tenant.clone(),
            plugin: call.plugin.clone(),
            links: call.input::<Scope>(),
        });
    }
}
