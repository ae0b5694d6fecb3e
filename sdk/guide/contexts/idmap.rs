// `Id maps`: inside any call.
use tenon_sdk::prelude::*;

fn linking(shop_id: String, erp_id: String) -> Result<(), Error> {
// snippet
    Ok(())
}
