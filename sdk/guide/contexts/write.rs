// `Writes and idempotency keys`: a destination connector's `write`.
use tenon_sdk::canonical::SaleOrder;
use tenon_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Saved {
    id: String,
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

// snippet
}
