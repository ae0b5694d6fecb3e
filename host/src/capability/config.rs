//! `tenon:connector/config`: the configuration an operator gave a plugin for one
//! tenant, merged with the defaults the plugin declared. Secrets are not here: they
//! never reach the guest (see [`super::http`]).

use crate::bindings::wit_config;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Per-call configuration state.
#[derive(Debug, Clone, Default)]
pub struct GuestConfig {
    values: Arc<BTreeMap<String, String>>,
}

impl GuestConfig {
    pub fn new(values: Arc<BTreeMap<String, String>>) -> Self {
        GuestConfig { values }
    }
}

impl wit_config::Host for GuestConfig {
    fn get(&mut self, key: String) -> Option<String> {
        self.values.get(&key).cloned()
    }
}

struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = &'a mut GuestConfig;
}

/// Adds `tenon:connector/config` to `linker`, served by the [`GuestConfig`] that
/// `get` finds in the store.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut GuestConfig,
) -> wasmtime::Result<()> {
    wit_config::add_to_linker::<T, HasConfig>(linker, get)
}
