//! `tenon:connector/config`: the configuration an operator gave a plugin for one
//! tenant, merged with the defaults the plugin declared. Secrets are not here:
//! they never reach the guest (see [`super::http`] and [`super::verify`]).

use super::Capability;
use crate::bindings::{v0_1, v0_2};
use crate::call::{CallContext, CallState, States};
use crate::descriptor::World;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// The call's input: the configuration values the guest may read.
#[derive(Debug, Clone, Default)]
pub struct Values(pub BTreeMap<String, String>);

/// Per-call state.
#[derive(Debug, Clone, Default)]
pub struct GuestConfig {
    values: Option<Arc<Values>>,
}

impl GuestConfig {
    fn get(&self, key: &str) -> Option<String> {
        self.values.as_ref()?.0.get(key).cloned()
    }
}

impl v0_2::config::Host for GuestConfig {
    fn get(&mut self, key: String) -> Option<String> {
        GuestConfig::get(self, &key)
    }
}

impl v0_1::config::Host for GuestConfig {
    fn get(&mut self, key: String) -> Option<String> {
        GuestConfig::get(self, &key)
    }
}

struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = &'a mut GuestConfig;
}

/// The `config` capability.
#[derive(Debug)]
pub struct Config;

impl Capability for Config {
    fn add_to_linker(&self, linker: &mut Linker<CallState>, _world: World) -> anyhow::Result<()> {
        v0_2::config::add_to_linker::<CallState, HasConfig>(linker, CallState::get::<GuestConfig>)?;
        v0_1::config::add_to_linker::<CallState, HasConfig>(linker, CallState::get::<GuestConfig>)?;
        Ok(())
    }

    fn prepare(&self, call: &CallContext, states: &mut States) {
        states.insert(GuestConfig {
            values: call.input::<Values>(),
        });
    }
}
