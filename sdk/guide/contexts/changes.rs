// `Cursors`: a connector's read of a vendor that filters "changed since"
// inclusively and sorts by time alone.
use tenon_sdk::prelude::*;

#[derive(serde::Serialize, serde::Deserialize)]
struct Product {
    id: String,
    updated_at: String,
}

#[derive(serde::Deserialize)]
struct ProductPage {
    products: Vec<Product>,
    has_more: bool,
}

fn read(api: &Client, mark: Watermark, limit: u32) -> Result<Page, Error> {
// snippet
}
