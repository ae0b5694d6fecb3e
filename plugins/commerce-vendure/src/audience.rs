//! The Vendure channel that holds the prices of one price-list audience: the
//! default channel for everyone, a B2B channel per customer account or
//! customer group. Finds, creates and lists those channels; owns no prices.
//!
//! A B2B channel carries its audience in two channel custom fields,
//! `b2bAudience` (`customer` or `group`) and `b2bCode` (the account code or the
//! group's name), which the server's B2B gate reads to let only that audience
//! use the channel in the Shop API. Its code and its token are
//! `b2b-<kind>-<code>` (the code percent-encoded outside letters, digits and
//! `-._~`, so that the token fits a header). A new one copies the default
//! channel's languages, currencies, tax setting, zones, stock settings and
//! seller, and gets the default channel's stock locations, shipping methods and
//! payment methods, so that its customers can check out there.

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::canonical::Audience;
use tenon_sdk::prelude::*;

use crate::graphql;

/// The code of Vendure's default channel (fixed by Vendure).
pub const DEFAULT_CHANNEL: &str = "__default_channel__";

/// The fields of a channel the price streams need.
const CHANNEL_FIELDS: &str =
    "id code token availableCurrencyCodes pricesIncludeTax customFields { b2bAudience b2bCode }";

/// Items fetched per request when listing channels and their methods.
const FETCH: usize = 100;

/// A channel prices are written to or listed from.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceChannel {
    pub id: String,
    pub code: String,
    pub token: String,
    pub available_currency_codes: Vec<String>,
    pub prices_include_tax: bool,
    #[serde(default)]
    pub custom_fields: ChannelFields,
}

/// A channel's B2B custom fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelFields {
    pub b2b_audience: Option<String>,
    pub b2b_code: Option<String>,
}

impl PriceChannel {
    /// Whether this is Vendure's default channel.
    pub fn is_default(&self) -> bool {
        self.code == DEFAULT_CHANNEL
    }

    /// The token to send in `vendure-token`: none for the default channel.
    pub fn header(&self) -> Option<&str> {
        (!self.is_default()).then_some(self.token.as_str())
    }

    /// The audience whose prices this channel holds: everyone for the default
    /// channel; none for a channel that is neither it nor a B2B channel.
    pub fn audience(&self) -> Option<Audience> {
        if self.is_default() {
            return Some(Audience::All);
        }
        let code = self.custom_fields.b2b_code.clone()?;
        match self.custom_fields.b2b_audience.as_deref()? {
            "customer" => Some(Audience::Customer(code)),
            "group" => Some(Audience::Group(code)),
            _ => None,
        }
    }
}

/// The kind (`customer` or `group`) and code of a B2B audience; `None` for
/// everyone.
pub fn kind(audience: &Audience) -> Option<(&'static str, &str)> {
    match audience {
        Audience::All => None,
        Audience::Customer(code) => Some(("customer", code)),
        Audience::Group(code) => Some(("group", code)),
    }
}

/// The code and token of the B2B channel of `kind` and `code`:
/// `b2b-customer-C0042`, `b2b-group-Gro%C3%9Fhandel`.
pub fn channel_code(kind: &str, code: &str) -> String {
    let mut out = format!("b2b-{kind}-");
    for byte in code.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The default channel.
pub fn default_channel() -> Result<PriceChannel, Error> {
    let mut data: Value = graphql::query(
        &format!("{{ activeChannel {{ {CHANNEL_FIELDS} }} }}"),
        json!({}),
    )?;
    decode(data["activeChannel"].take(), "activeChannel")
}

/// The B2B channel of `kind` and `code`, if it exists.
pub fn find(kind: &str, code: &str) -> Result<Option<PriceChannel>, Error> {
    let mut data: Value = graphql::query(
        &format!(
            "query Channels($options: ChannelListOptions) {{ channels(options: $options) {{ items {{ {CHANNEL_FIELDS} }} }} }}"
        ),
        json!({"options": {"filter": {"b2bAudience": {"eq": kind}, "b2bCode": {"eq": code}}, "sort": {"id": "ASC"}}}),
    )?;
    let channels: Vec<PriceChannel> = decode(data["channels"]["items"].take(), "channels")?;
    // A case-insensitive database collation may match other codes too.
    Ok(channels.into_iter().find(|c| {
        c.custom_fields.b2b_audience.as_deref() == Some(kind)
            && c.custom_fields.b2b_code.as_deref() == Some(code)
    }))
}

/// The B2B channel of `kind` and `code`, created if it does not exist.
pub fn ensure(kind: &str, code: &str) -> Result<PriceChannel, Error> {
    match find(kind, code)? {
        Some(channel) => Ok(channel),
        None => create(kind, code),
    }
}

/// What a new B2B channel copies of the default channel.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    default_language_code: String,
    available_language_codes: Vec<String>,
    default_currency_code: String,
    available_currency_codes: Vec<String>,
    prices_include_tax: bool,
    track_inventory: Option<bool>,
    out_of_stock_threshold: Option<i64>,
    default_tax_zone: Option<Id>,
    default_shipping_zone: Option<Id>,
    seller: Option<Id>,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

fn create(kind: &str, code: &str) -> Result<PriceChannel, Error> {
    let mut data: Value = graphql::query(
        "{ activeChannel { defaultLanguageCode availableLanguageCodes defaultCurrencyCode availableCurrencyCodes pricesIncludeTax trackInventory outOfStockThreshold defaultTaxZone { id } defaultShippingZone { id } seller { id } } }",
        json!({}),
    )?;
    let settings: Settings = decode(data["activeChannel"].take(), "activeChannel")?;
    let (Some(tax_zone), Some(shipping_zone)) =
        (settings.default_tax_zone, settings.default_shipping_zone)
    else {
        return Err(Error::permanent(
            "the Vendure default channel has no default tax or shipping zone, which a B2B channel copies; set them",
        ));
    };
    let channel_code = channel_code(kind, code);
    let input = json!({
        "code": channel_code,
        "token": channel_code,
        "defaultLanguageCode": settings.default_language_code,
        "availableLanguageCodes": settings.available_language_codes,
        "defaultCurrencyCode": settings.default_currency_code,
        "availableCurrencyCodes": settings.available_currency_codes,
        "pricesIncludeTax": settings.prices_include_tax,
        "trackInventory": settings.track_inventory,
        "outOfStockThreshold": settings.out_of_stock_threshold,
        "defaultTaxZoneId": tax_zone.id,
        "defaultShippingZoneId": shipping_zone.id,
        "sellerId": settings.seller.map(|s| s.id),
        "customFields": {"b2bAudience": kind, "b2bCode": code},
    });
    let mut data: Value = graphql::query(
        &format!(
            "mutation Channel($input: CreateChannelInput!) {{ createChannel(input: $input) {{ ... on Channel {{ {CHANNEL_FIELDS} }} ... on ErrorResult {{ errorCode message }} }} }}"
        ),
        json!({ "input": input }),
    )?;
    let created = data["createChannel"].take();
    if created.get("id").is_none() {
        return Err(Error::permanent(format!(
            "Vendure refused the channel `{channel_code}` ({}): {}",
            created["errorCode"].as_str().unwrap_or("?"),
            created["message"].as_str().unwrap_or("no message")
        )));
    }
    let channel: PriceChannel = decode(created, "createChannel")?;
    for (list, mutation, input_type, ids_field) in [
        (
            "stockLocations",
            "assignStockLocationsToChannel",
            "AssignStockLocationsToChannelInput",
            "stockLocationIds",
        ),
        (
            "shippingMethods",
            "assignShippingMethodsToChannel",
            "AssignShippingMethodsToChannelInput",
            "shippingMethodIds",
        ),
        (
            "paymentMethods",
            "assignPaymentMethodsToChannel",
            "AssignPaymentMethodsToChannelInput",
            "paymentMethodIds",
        ),
    ] {
        let ids = default_ids(list)?;
        if ids.is_empty() {
            continue;
        }
        let _: Value = graphql::query(
            &format!(
                "mutation Assign($input: {input_type}!) {{ {mutation}(input: $input) {{ id }} }}"
            ),
            json!({"input": {"channelId": channel.id, ids_field: ids}}),
        )?;
    }
    log::info(format!(
        "channel={} code={channel_code} Created a Vendure B2B channel.",
        channel.id
    ));
    Ok(channel)
}

/// The ids of every item of the default channel's list `list`
/// (`stockLocations`, `shippingMethods`, `paymentMethods`).
fn default_ids(list: &str) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    loop {
        let mut data: Value = graphql::query(
            &format!(
                "query List($skip: Int, $take: Int) {{ {list}(options: {{skip: $skip, take: $take, sort: {{id: ASC}}}}) {{ items {{ id }} }} }}"
            ),
            json!({"skip": ids.len(), "take": FETCH}),
        )?;
        let items: Vec<Id> = decode(data[list]["items"].take(), list)?;
        let fetched = items.len();
        ids.extend(items.into_iter().map(|i| i.id));
        if fetched < FETCH {
            return Ok(ids);
        }
    }
}

/// Every channel prices are listed from, in id order: the default channel and
/// the B2B channels.
pub fn all() -> Result<Vec<PriceChannel>, Error> {
    let mut channels = Vec::new();
    let mut skip = 0;
    loop {
        let mut data: Value = graphql::query(
            &format!(
                "query Channels($options: ChannelListOptions) {{ channels(options: $options) {{ items {{ {CHANNEL_FIELDS} }} }} }}"
            ),
            json!({"options": {"sort": {"id": "ASC"}, "skip": skip, "take": FETCH}}),
        )?;
        let items: Vec<PriceChannel> = decode(data["channels"]["items"].take(), "channels")?;
        let fetched = items.len();
        skip += fetched;
        channels.extend(items.into_iter().filter(|c| c.audience().is_some()));
        if fetched < FETCH {
            return Ok(channels);
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, Error> {
    serde_json::from_value(value)
        .map_err(|e| Error::permanent(format!("Vendure's `{what}` has an unexpected shape: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(code: &str, audience: Option<&str>, b2b_code: Option<&str>) -> PriceChannel {
        PriceChannel {
            id: "2".into(),
            code: code.into(),
            token: code.into(),
            available_currency_codes: vec!["USD".into()],
            prices_include_tax: true,
            custom_fields: ChannelFields {
                b2b_audience: audience.map(Into::into),
                b2b_code: b2b_code.map(Into::into),
            },
        }
    }

    #[test]
    fn channel_codes_name_the_audience_and_fit_a_header() {
        assert_eq!(channel_code("customer", "C0042"), "b2b-customer-C0042");
        assert_eq!(
            channel_code("group", "Wholesale EU"),
            "b2b-group-Wholesale%20EU"
        );
        assert_eq!(
            channel_code("group", "Großhandel"),
            "b2b-group-Gro%C3%9Fhandel"
        );
        assert_ne!(channel_code("group", "a/b"), channel_code("group", "a%2Fb"));
    }

    #[test]
    fn a_channel_holds_the_prices_of_its_audience() {
        let default = channel(DEFAULT_CHANNEL, None, None);
        assert_eq!(default.audience(), Some(Audience::All));
        assert_eq!(default.header(), None);
        let account = channel("b2b-customer-C1", Some("customer"), Some("C1"));
        assert_eq!(account.audience(), Some(Audience::Customer("C1".into())));
        assert_eq!(account.header(), Some("b2b-customer-C1"));
        let group = channel("b2b-group-W", Some("group"), Some("W"));
        assert_eq!(group.audience(), Some(Audience::Group("W".into())));
        assert_eq!(channel("eu-shop", None, None).audience(), None);
        assert_eq!(channel("odd", Some("region"), Some("EU")).audience(), None);
        assert_eq!(kind(&Audience::Group("W".into())), Some(("group", "W")));
        assert_eq!(kind(&Audience::All), None);
    }
}
