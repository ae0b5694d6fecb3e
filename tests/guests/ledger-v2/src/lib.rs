//! `guest-ledger-v2`: an upgrade of the bundled `demo-ledger` (same name, version
//! `0.2.0`), for the tests of plugin versions.
//!
//! It declares the same stream (`sale-orders`, writable), config key and secret
//! as `demo-ledger` 0.1.0, plus one more egress host, [`NEW_EGRESS`], so a tenant
//! must grant it before this version runs for them. `write` sends nothing: it
//! accepts every delivery and answers the destination id `v2-<record key>`, which
//! the host links in the flow's id map, so a test sees which version delivered a
//! record.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.1.0" });

    use super::LedgerV2;
    export!(LedgerV2);
}

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::types::{
    ConfigKey, Delivery, Descriptor, Error, Kind, Outcome, Page, StreamInfo,
};

/// The egress host 0.1.0 did not declare.
const NEW_EGRESS: &str = "api.ledger.example";

struct LedgerV2;

impl Guest for LedgerV2 {
    fn describe() -> Descriptor {
        Descriptor {
            name: "demo-ledger".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Erp,
            description: "Test guest: demo-ledger 0.2.0, accepts every sales order.".to_owned(),
            streams: vec![StreamInfo {
                name: "sale-orders".to_owned(),
                cursor_field: None,
                schema: "{}".to_owned(),
                readable: false,
                writable: true,
            }],
            egress: vec![NEW_EGRESS.to_owned()],
            config: vec![ConfigKey {
                name: "base_url".to_owned(),
                description: "Address of the ledger API (unused by this version).".to_owned(),
                required: true,
                default: None,
            }],
            secrets: vec!["api_token".to_owned()],
        }
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }

    fn read(stream: String, _cursor: Option<String>, _limit: u32) -> Result<Page, Error> {
        Err(Error::Permanent(format!("stream `{stream}` is write-only")))
    }

    fn write(stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        if stream != "sale-orders" {
            return Err(Error::Permanent(format!("unknown stream `{stream}`")));
        }
        Ok(batch
            .into_iter()
            .map(|d| Ok(Some(format!("v2-{}", d.envelope.key))))
            .collect())
    }
}
