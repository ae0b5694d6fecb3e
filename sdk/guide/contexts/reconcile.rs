// `Reconciliation`: a destination connector that lists what it holds.
use tenon_sdk::canonical::SaleOrder;
use tenon_sdk::prelude::*;

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

fn erp() -> Result<Client, Error> {
    Ok(Client::new(config::require("base_url")?).credential("api_token"))
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
