//! `tenon:delivery/attempts`: what the host knows of earlier `write` calls that
//! carried a delivery, for destinations that take no idempotency key. The host
//! records them (this crate stores nothing) and gives each `write` call the
//! earlier attempts of its own batch's deliveries as the call's input
//! ([`Earlier`]); the guest can ask about those and nothing else, so it learns
//! nothing of other batches, flows or tenants.

use super::Capability;
use crate::bindings::delivery_v0_1::attempts;
use crate::call::{CallContext, CallState, States};
use crate::descriptor::World;
use crate::error::GuestError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// The interface's name as a component imports it: the host records attempts
/// only for destinations that import it (see [`crate::engine::Prepared::imports`]).
pub const INTERFACE: &str = "tenon:delivery/attempts@0.1.0";

/// The earlier `write` calls that carried one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// How many there were.
    pub calls: u32,
    /// When the last one started, in milliseconds since the Unix epoch.
    pub last_at_ms: u64,
    /// What the plugin answered for the delivery in the last one; `None` when
    /// no answer reached the host.
    pub answer: Option<GuestError>,
}

/// The call's input: the earlier attempts of the deliveries the call carries,
/// by idempotency key.
#[derive(Debug, Clone, Default)]
pub struct Earlier(pub HashMap<String, Attempt>);

/// Per-call state.
#[derive(Debug, Default)]
pub struct GuestAttempts {
    earlier: Option<Arc<Earlier>>,
}

impl attempts::Host for GuestAttempts {
    fn earlier(&mut self, idempotency_key: String) -> Option<attempts::Attempt> {
        let attempt = self.earlier.as_ref()?.0.get(&idempotency_key)?;
        Some(attempts::Attempt {
            calls: attempt.calls,
            last_at_ms: attempt.last_at_ms,
            answer: attempt.answer.clone().map(Into::into),
        })
    }
}

struct HasAttempts;

impl HasData for HasAttempts {
    type Data<'a> = &'a mut GuestAttempts;
}

/// The `attempts` capability.
#[derive(Debug)]
pub struct Attempts;

impl Capability for Attempts {
    fn add_to_linker(&self, linker: &mut Linker<CallState>, world: World) -> anyhow::Result<()> {
        // Only `write` of a connector has deliveries to ask about.
        if world == World::Connector {
            attempts::add_to_linker::<CallState, HasAttempts>(
                linker,
                CallState::get::<GuestAttempts>,
            )?;
        }
        Ok(())
    }

    fn prepare(&self, call: &CallContext, states: &mut States) {
        states.insert(GuestAttempts {
            earlier: call.input::<Earlier>(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attempts::Host as _;

    #[test]
    fn a_guest_learns_of_its_own_calls_deliveries_only() {
        let earlier = Earlier(HashMap::from([(
            "tenon-1".to_owned(),
            Attempt {
                calls: 2,
                last_at_ms: 7,
                answer: Some(GuestError::Retryable {
                    message: "timed out".into(),
                }),
            },
        )]));
        let mut guest = GuestAttempts {
            earlier: Some(Arc::new(earlier)),
        };
        let seen = guest.earlier("tenon-1".into()).expect("its own delivery");
        assert_eq!((seen.calls, seen.last_at_ms), (2, 7));
        assert!(
            matches!(seen.answer, Some(crate::bindings::v0_2::types::Error::Retryable(m)) if m == "timed out")
        );
        // A key of another batch, flow or tenant is not in the call's input.
        assert!(guest.earlier("tenon-2".into()).is_none());
        // Outside `write` (no input): nothing.
        assert!(GuestAttempts::default().earlier("tenon-1".into()).is_none());
    }
}
