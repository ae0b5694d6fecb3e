//! The active Vendure channel's settings that decide what a `products` record
//! may hold: its languages, its currencies and whether its prices include tax.
//! Read once per `write` batch; owns no stream logic.

use serde::Deserialize;
use serde_json::json;
use tenon_sdk::prelude::*;

use crate::graphql;

/// What the connector needs to know of the channel its token acts in.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub default_language_code: String,
    pub available_language_codes: Vec<String>,
    pub default_currency_code: String,
    pub available_currency_codes: Vec<String>,
    pub prices_include_tax: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Active {
    active_channel: Channel,
}

/// The channel of the session (Vendure's default channel for a token without
/// a `vendure-token` header).
pub fn active() -> Result<Channel, Error> {
    let data: Active = graphql::query(
        "{ activeChannel { defaultLanguageCode availableLanguageCodes defaultCurrencyCode availableCurrencyCodes pricesIncludeTax } }",
        json!({}),
    )?;
    Ok(data.active_channel)
}
