// `Earlier attempts`: the body of a `write` to a vendor without idempotency keys.
use tenon_sdk::canonical::SaleOrder;
use tenon_sdk::prelude::*;

fn find_by_number(api: &Client, order: &SaleOrder) -> Result<Option<String>, Error> {
    let _ = (api, order);
    Ok(None)
}

fn create(api: &Client, order: &SaleOrder) -> Result<String, Error> {
    let _ = api;
    Ok(order.external_ref.clone())
}

fn write(api: Client, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
// snippet
}
