//! `tenon:connector/idmap`: per-tenant cross-references between the ids two
//! systems give the same thing, durable in the host's state. A plugin sees only its
//! tenant's links.

use crate::bindings::types::Error as WitError;
use crate::bindings::wit_idmap;
use crate::state::State;
use wasmtime::component::{HasData, Linker};

/// Longest namespace or id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// Per-call id-map state: the tenant, and the store (none while installing).
#[derive(Debug, Clone)]
pub struct GuestIdMap {
    tenant: String,
    state: Option<State>,
}

impl GuestIdMap {
    pub fn new(tenant: &str, state: Option<State>) -> Self {
        GuestIdMap {
            tenant: tenant.to_owned(),
            state,
        }
    }

    fn store(&self) -> Result<&State, WitError> {
        self.state.as_ref().ok_or_else(|| {
            WitError::Denied("the id map is not available outside a tenant's call".into())
        })
    }
}

fn check(what: &str, value: &str) -> Result<(), WitError> {
    if value.is_empty() || value.len() > MAX_ID_BYTES || value.contains('\0') {
        return Err(WitError::Permanent(format!(
            "id-map {what} must be 1-{MAX_ID_BYTES} bytes without NUL, got {} bytes",
            value.len()
        )));
    }
    Ok(())
}

impl wit_idmap::Host for GuestIdMap {
    fn link(
        &mut self,
        namespace: String,
        source_id: String,
        target_id: String,
    ) -> Result<(), WitError> {
        check("namespace", &namespace)?;
        check("source id", &source_id)?;
        check("target id", &target_id)?;
        self.store()?
            .link(&self.tenant, &namespace, &source_id, &target_id)
            .map_err(|e| WitError::Retryable(format!("could not store the link: {e:#}")))
    }

    fn resolve(&mut self, namespace: String, source_id: String) -> Option<String> {
        self.state
            .as_ref()?
            .resolve(&self.tenant, &namespace, &source_id)
            .ok()
            .flatten()
    }

    fn reverse(&mut self, namespace: String, target_id: String) -> Option<String> {
        self.state
            .as_ref()?
            .reverse(&self.tenant, &namespace, &target_id)
            .ok()
            .flatten()
    }
}

struct HasIdMap;

impl HasData for HasIdMap {
    type Data<'a> = &'a mut GuestIdMap;
}

/// Adds `tenon:connector/idmap` to `linker`, served by the [`GuestIdMap`] that
/// `get` finds in the store.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut GuestIdMap,
) -> wasmtime::Result<()> {
    wit_idmap::add_to_linker::<T, HasIdMap>(linker, get)
}
