//! How many plugin calls run at once. Every call passes the gate before it gets
//! a store: at most [`MAX_CONCURRENT_CALLS`] in all (the size of the instance
//! pool, so the pool is never exhausted), and at most [`TENANT_CALL_SHARE`] of
//! one tenant, so that one tenant's flood of calls waits on itself while other
//! tenants' calls go on. A call that cannot pass within its own time fails as
//! `retryable`; nothing else is harmed.
//!
//! [`MAX_CONCURRENT_CALLS`]: crate::limits::MAX_CONCURRENT_CALLS
//! [`TENANT_CALL_SHARE`]: crate::limits::TENANT_CALL_SHARE

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The gate.
#[derive(Debug)]
pub struct Gate {
    all: Arc<Semaphore>,
    total: usize,
    share: usize,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A call's passage: it holds a place until dropped.
#[derive(Debug)]
pub struct Pass {
    _tenant: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

/// Why a call did not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no call slot became free within {waited_ms} ms ({running} calls of tenant `{tenant}` running, its share is {share}; {free} of {total} slots free in all)"
)]
pub struct Busy {
    pub tenant: String,
    pub waited_ms: u64,
    pub running: usize,
    pub share: usize,
    pub free: usize,
    pub total: usize,
}

impl Gate {
    /// A gate for `total` calls at once, `share` of them for one tenant.
    pub fn new(total: usize, share: usize) -> Gate {
        Gate {
            all: Arc::new(Semaphore::new(total)),
            total,
            share: share.min(total).max(1),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Waits (at most `wait`) for a place for a call of `tenant`: first within
    /// the tenant's share, then in all, so a tenant at its share holds no place
    /// of the others while it waits.
    pub async fn enter(&self, tenant: &str, wait: Duration) -> Result<Pass, Busy> {
        let own = {
            let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
            match tenants.get(tenant) {
                Some(own) => Arc::clone(own),
                None => Arc::clone(
                    tenants
                        .entry(tenant.to_owned())
                        .or_insert_with(|| Arc::new(Semaphore::new(self.share))),
                ),
            }
        };
        let busy = |own: &Semaphore| Busy {
            tenant: tenant.to_owned(),
            waited_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            running: self.share - own.available_permits(),
            share: self.share,
            free: self.all.available_permits(),
            total: self.total(),
        };
        // Most calls find both places free: no timer for them.
        if let Ok(tenant_permit) = Arc::clone(&own).try_acquire_owned() {
            if let Ok(all_permit) = Arc::clone(&self.all).try_acquire_owned() {
                return Ok(Pass {
                    _tenant: tenant_permit,
                    _all: all_permit,
                });
            }
            drop(tenant_permit);
        }
        let passage = async {
            let tenant_permit = Arc::clone(&own).acquire_owned().await.ok()?;
            let all_permit = Arc::clone(&self.all).acquire_owned().await.ok()?;
            Some(Pass {
                _tenant: tenant_permit,
                _all: all_permit,
            })
        };
        match tokio::time::timeout(wait, passage).await {
            Ok(Some(pass)) => Ok(pass),
            _ => Err(busy(&own)),
        }
    }

    /// Calls that can run at once.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Calls running now.
    pub fn running(&self) -> usize {
        self.total().saturating_sub(self.all.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tenant_at_its_share_waits_while_others_pass() {
        let gate = Gate::new(4, 2);
        let a1 = gate.enter("a", Duration::from_millis(10)).await.unwrap();
        let _a2 = gate.enter("a", Duration::from_millis(10)).await.unwrap();
        let busy = gate
            .enter("a", Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!((busy.running, busy.share), (2, 2));
        let _b1 = gate.enter("b", Duration::from_millis(10)).await.unwrap();
        let _b2 = gate.enter("b", Duration::from_millis(10)).await.unwrap();
        drop(a1);
        assert!(gate.enter("a", Duration::from_millis(10)).await.is_ok());
    }
}
