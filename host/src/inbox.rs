//! Webhook ingress: a request a vendor POSTs for a tenant and a plugin is handed to
//! the plugin's `webhook-api` export, which verifies it and turns it into records;
//! the records are stored durably in the inbox (state tree `inbox`), one entry per
//! flow of the tenant whose source is that plugin's stream, before the caller
//! answers the vendor. A run of the flow then delivers them ([`crate::sync`]) and
//! removes them in the transaction that commits their batch, so a webhook that was
//! answered 2xx is never lost and a crash in between only repeats a delivery,
//! which the idempotency keys make harmless.
//!
//! Owns the inbox entry and the checks of a webhook; not HTTP (that is
//! [`crate::server::webhook`]) and not delivery.

use crate::error::{Error, Result};
use crate::host::{Tenon, now_ms};
use crate::record::Envelope;
use crate::record::WebhookRequest;
use serde::{Deserialize, Serialize};

/// A record a webhook brought in, waiting for a run of `flow` to deliver it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Increasing in arrival order; assigned when stored.
    pub id: u64,
    pub tenant: String,
    pub flow: String,
    pub envelope: Envelope,
    /// Unix time in milliseconds.
    pub received_at: u64,
}

impl Tenon {
    /// Hands a webhook to the current version of `plugin` for `tenant` and stores
    /// the records it returns for every flow that takes them; returns how many
    /// records it returned. Nothing is stored unless every record has a flow to
    /// go to. Errors: not found (tenant, plugin, enablement, or a plugin without
    /// `webhook-api`); the plugin's own error ([`Error::Call`], `denied` for a
    /// signature that does not hold); invalid when no flow takes a record.
    pub async fn receive_webhook(
        &self,
        tenant: &str,
        plugin: &str,
        request: WebhookRequest,
    ) -> Result<usize> {
        self.tenant(tenant)?;
        let installed = self.plugin(plugin)?;
        if self.state()?.enablement(tenant, plugin)?.is_none() {
            return Err(Error::not_found("enablement", format!("{tenant}/{plugin}")));
        }
        let prepared = self.prepared(&installed)?;
        if !prepared.takes_webhooks() {
            return Err(Error::not_found(
                "webhook endpoint",
                format!("{tenant}/{plugin}"),
            ));
        }
        // The handler verifies and parses; it has no network, so a request
        // nobody signed cannot make the host call the vendor.
        let ctx = self
            .call_context(tenant, &installed)?
            .without::<crate::capability::http::Access>();
        let (records, _) = self.sandbox.webhook(&prepared, &ctx, request).await?;

        if let Some(big) = records
            .iter()
            .find(|r| r.payload.len() > crate::limits::MAX_PAYLOAD_BYTES)
        {
            return Err(Error::Invalid(format!(
                "the webhook's record `{}` has a payload of {} bytes, over the {}-byte limit; nothing was stored",
                big.key,
                big.payload.len(),
                crate::limits::MAX_PAYLOAD_BYTES
            )));
        }
        let flows = self.state()?.flows(Some(tenant))?;
        let now = now_ms();
        let mut entries = Vec::new();
        for envelope in &records {
            let takers: Vec<_> = flows
                .iter()
                .filter(|f| f.source.plugin == plugin && f.source.stream == envelope.stream)
                .collect();
            if takers.is_empty() {
                return Err(Error::Invalid(format!(
                    "no flow of tenant `{tenant}` takes `{plugin}:{}`: define one before sending its webhooks",
                    envelope.stream
                )));
            }
            entries.extend(takers.into_iter().map(|flow| InboxEntry {
                id: 0,
                tenant: tenant.to_owned(),
                flow: flow.name.clone(),
                envelope: envelope.clone(),
                received_at: now,
            }));
        }
        if !entries.is_empty() {
            self.state()?.put_inbox(entries)?;
        }
        tracing::info!(
            tenant,
            plugin,
            records = records.len(),
            "Webhook records stored"
        );
        Ok(records.len())
    }

    /// The records waiting in a flow's inbox, oldest first.
    pub fn inbox(&self, tenant: &str, flow: &str) -> Result<Vec<InboxEntry>> {
        let flow = self.flow(tenant, flow)?;
        Ok(self.state()?.inbox(tenant, &flow.name, usize::MAX)?)
    }
}
