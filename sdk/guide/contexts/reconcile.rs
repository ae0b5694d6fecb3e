// `Reconciliation`: a destination connector that lists what it holds.
use tenon_sdk::canonical::SaleOrder;
use tenon_sdk::prelude::*;

use crate::vendor::erp;

#[derive(serde::Deserialize)]
struct HeldOrder {
    id: String,
    #[serde(flatten)]
    sale: SaleOrder,
}

#[derive(serde::Deserialize)]
struct Held {
    orders: Vec<HeldOrder>,
    next: Option<String>,
    has_more: bool,
}

struct Erp;

impl Connector for Erp {
    fn describe() -> Descriptor {
        descriptor!(Kind::Erp)
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }
}

// snippet
