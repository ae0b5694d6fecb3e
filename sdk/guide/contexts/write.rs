// `Writes and idempotency keys`: a destination connector's `write`.
use tenon_sdk::canonical::SaleOrder;
use tenon_sdk::prelude::*;

use crate::vendor::erp;

#[derive(serde::Deserialize)]
struct Saved {
    id: String,
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
