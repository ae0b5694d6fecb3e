//! The `price-lists` stream: canonical [`ListPrice`]s written as Vendure
//! variant prices in the channel of their audience (see
//! [`audience`](crate::audience)), and listed for `reconcile`.
//!
//! A record sets one price: the variant of `sku`, in `currency`, in the
//! default channel (audience `all`) or in the B2B channel of its account or
//! customer group (created on first use; the variant is assigned to it first,
//! with copies of its default-channel prices in every currency the channel
//! offers, so that it has a price in each).
//! The price row keeps the record's `list` in its custom field `priceList`.
//! Only what differs is written: a record delivered twice changes nothing.
//! The outcome id is `<channel code>/<variant id>/<currency>`.
//!
//! What Vendure cannot hold is said, never guessed:
//! - quantity breaks: Vendure has one price per variant, currency and channel.
//!   The `min_quantity: 1` break is written, the others are dropped (logged,
//!   and `reconcile` lists the record without them, so it shows as
//!   `different`); a record without a break at 1 is refused (permanent);
//! - validity dates: Vendure prices have none, so a record with `valid_from`
//!   or `valid_until` is refused (permanent) rather than applied outside its
//!   dates;
//! - a currency the channel does not offer, a channel whose prices exclude
//!   tax, an unknown SKU, an amount with more decimals than Vendure keeps and a
//!   delete are refused (permanent).
//!
//! `reconcile` lists, per channel (the default one, then the B2B ones, by id)
//! and variant, each price that has a `priceList`: prices nobody wrote through
//! this stream are not listed.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::canonical::{Audience, ListPrice, PriceBreak};
use tenon_sdk::prelude::*;

use crate::audience::{self, PriceChannel};
use crate::{PRICE_LISTS, feed, graphql, listing, money};

/// The fields of a variant a write and `reconcile` compare.
const VARIANT_FIELDS: &str =
    "id sku channels { id } prices { currencyCode price customFields { priceList } }";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Variant {
    id: String,
    sku: String,
    #[serde(default)]
    channels: Vec<ChannelId>,
    prices: Vec<Price>,
}

#[derive(Debug, Clone, Deserialize)]
struct ChannelId {
    id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Price {
    currency_code: String,
    price: i64,
    #[serde(default)]
    custom_fields: PriceFields,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceFields {
    price_list: Option<String>,
}

/// A checked record: the one price Vendure should hold.
#[derive(Debug, PartialEq, Eq)]
struct Wanted {
    list: String,
    sku: String,
    currency: String,
    audience: Audience,
    /// Hundredths, with tax.
    price: i64,
    /// The starting quantities of the breaks Vendure cannot hold.
    dropped: Vec<i64>,
}

/// Writes each record; the outcome is `<channel code>/<variant id>/<currency>`.
pub fn write(batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    let records: Vec<Result<Wanted, Error>> = batch
        .iter()
        .map(|d| match d.envelope.op {
            Op::Delete => Err(Error::permanent(
                "price-list prices cannot be deleted: Vendure needs a price per channel; send the price the audience pays now",
            )),
            Op::Upsert => d.envelope.json::<ListPrice>().and_then(check),
        })
        .collect();
    let skus: Vec<&str> = records
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|w| w.sku.as_str()))
        .collect();
    let mut variants = variants(&skus)?;
    let default = audience::default_channel()?;
    let mut channels: HashMap<(&'static str, String), PriceChannel> = HashMap::new();

    let mut records = records.into_iter();
    Ok(record::apply_each(batch, |_| {
        let wanted = records.next().expect("one record per delivery")?;
        let channel = match audience::kind(&wanted.audience) {
            None => default.clone(),
            Some((kind, code)) => match channels.get(&(kind, code.to_owned())) {
                Some(channel) => channel.clone(),
                None => {
                    let channel = audience::ensure(kind, code)?;
                    channels.insert((kind, code.to_owned()), channel.clone());
                    channel
                }
            },
        };
        fits(&wanted, &channel)?;
        let variant = variants.get_mut(&wanted.sku).ok_or_else(|| {
            Error::permanent(format!(
                "sku `{}` is not a Vendure product variant",
                wanted.sku
            ))
        })?;
        save(&wanted, variant, &channel)
    }))
}

/// What the record asks of Vendure, if Vendure can hold it.
fn check(price: ListPrice) -> Result<Wanted, Error> {
    let sku = &price.sku;
    if sku.is_empty() || price.list.is_empty() {
        return Err(Error::permanent("the list and the sku must not be empty"));
    }
    if let Some((kind, "")) = audience::kind(&price.audience) {
        return Err(Error::permanent(format!(
            "sku `{sku}`: the {kind} audience has no code"
        )));
    }
    if price.valid_from.is_some() || price.valid_until.is_some() {
        return Err(Error::permanent(format!(
            "sku `{sku}`: Vendure prices have no validity dates (valid_from {}, valid_until {}); send the record without them when its prices hold",
            price.valid_from.as_deref().unwrap_or("none"),
            price.valid_until.as_deref().unwrap_or("none"),
        )));
    }
    if let Some(b) = price.breaks.iter().find(|b| b.min_quantity < 1) {
        return Err(Error::permanent(format!(
            "sku `{sku}`: a break starts at {}, below 1",
            b.min_quantity
        )));
    }
    let mut ones = price.breaks.iter().filter(|b| b.min_quantity == 1);
    let one = match (ones.next(), ones.next()) {
        (Some(one), None) => one,
        (Some(_), Some(_)) => {
            return Err(Error::permanent(format!(
                "sku `{sku}`: two prices for a quantity of 1"
            )));
        }
        (None, _) => {
            return Err(Error::permanent(format!(
                "sku `{sku}`: no price for a quantity of 1 (the breaks start at {}); Vendure has no quantity prices, only one price per variant",
                price
                    .breaks
                    .iter()
                    .map(|b| b.min_quantity)
                    .min()
                    .unwrap_or(0)
            )));
        }
    };
    let hundredths = money::hundredths(&one.unit_price, &price.currency)
        .map_err(|e| Error::permanent(format!("sku `{sku}`: price {e}")))?;
    if hundredths < 0 {
        return Err(Error::permanent(format!(
            "sku `{sku}`: the price {} is negative",
            one.unit_price
        )));
    }
    let mut dropped: Vec<i64> = price
        .breaks
        .iter()
        .filter(|b| b.min_quantity > 1)
        .map(|b| b.min_quantity)
        .collect();
    dropped.sort_unstable();
    Ok(Wanted {
        list: price.list,
        sku: price.sku,
        currency: price.currency,
        audience: price.audience,
        price: hundredths,
        dropped,
    })
}

/// Whether `channel` can hold the price: it offers the currency and its prices
/// include tax, as canonical prices do.
fn fits(wanted: &Wanted, channel: &PriceChannel) -> Result<(), Error> {
    if !channel.prices_include_tax {
        return Err(Error::permanent(format!(
            "the Vendure channel `{}` has prices without tax (`pricesIncludeTax` is false) but canonical prices include it",
            channel.code
        )));
    }
    if !channel.available_currency_codes.contains(&wanted.currency) {
        return Err(Error::permanent(format!(
            "sku `{}`: currency `{}` is not offered by the Vendure channel `{}` ({})",
            wanted.sku,
            wanted.currency,
            channel.code,
            channel.available_currency_codes.join(", ")
        )));
    }
    Ok(())
}

/// Sets the price in `channel` where it differs; returns the outcome id.
fn save(
    wanted: &Wanted,
    variant: &mut Variant,
    channel: &PriceChannel,
) -> Result<Option<String>, Error> {
    let id = format!("{}/{}/{}", channel.code, variant.id, wanted.currency);
    if !wanted.dropped.is_empty() {
        log::warn(format!(
            "sku={} list={} dropped_breaks={:?} Vendure holds one price per variant: wrote the price for 1 unit only.",
            wanted.sku, wanted.list, wanted.dropped
        ));
    }
    let prices = if channel.is_default() {
        variant.prices.clone()
    } else {
        if !variant.channels.iter().any(|c| c.id == channel.id) {
            let _: Value = graphql::query(
                "mutation Assign($input: AssignProductVariantsToChannelInput!) { assignProductVariantsToChannel(input: $input) { id } }",
                json!({"input": {"productVariantIds": [variant.id], "channelId": channel.id}}),
            )?;
            variant.channels.push(ChannelId {
                id: channel.id.clone(),
            });
            // Vendure copied the price in the channel's default currency; the
            // other currencies get theirs too, so that the variant has a price
            // in every currency the channel offers.
            let copies: Vec<Value> = variant
                .prices
                .iter()
                .filter(|p| channel.available_currency_codes.contains(&p.currency_code))
                .map(|p| json!({"currencyCode": p.currency_code, "price": p.price}))
                .collect();
            let _: Value = graphql::query_in(
                channel.header(),
                "mutation Prices($input: [UpdateProductVariantInput!]!) { updateProductVariants(input: $input) { id } }",
                json!({"input": [{"id": variant.id, "prices": copies}]}),
            )?;
            log::info(format!(
                "variant={} channel={} Assigned a Vendure variant to a B2B channel.",
                variant.id, channel.code
            ));
        }
        in_channel(&variant.id, channel)?.prices
    };
    let held = prices.iter().find(|p| p.currency_code == wanted.currency);
    if held.is_some_and(|p| {
        p.price == wanted.price && p.custom_fields.price_list.as_deref() == Some(&wanted.list)
    }) {
        return Ok(Some(id));
    }
    let _: Value = graphql::query_in(
        channel.header(),
        "mutation Prices($input: [UpdateProductVariantInput!]!) { updateProductVariants(input: $input) { id } }",
        json!({"input": [{"id": variant.id, "prices": [{
            "currencyCode": wanted.currency,
            "price": wanted.price,
            "customFields": {"priceList": wanted.list},
        }]}]}),
    )?;
    if channel.is_default() {
        // A later record of the batch for the same price compares with this one.
        variant
            .prices
            .retain(|p| p.currency_code != wanted.currency);
        variant.prices.push(Price {
            currency_code: wanted.currency.clone(),
            price: wanted.price,
            custom_fields: PriceFields {
                price_list: Some(wanted.list.clone()),
            },
        });
    }
    log::info(format!(
        "variant={} channel={} currency={} list={} Set a Vendure price.",
        variant.id, channel.code, wanted.currency, wanted.list
    ));
    Ok(Some(id))
}

/// The variant `id` as the channel holds it.
fn in_channel(id: &str, channel: &PriceChannel) -> Result<Variant, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        product_variant: Option<Variant>,
    }
    let data: Data = graphql::query_in(
        channel.header(),
        &format!("query Variant($id: ID!) {{ productVariant(id: $id) {{ {VARIANT_FIELDS} }} }}"),
        json!({ "id": id }),
    )?;
    data.product_variant.ok_or_else(|| {
        Error::permanent(format!(
            "variant `{id}` is not in the Vendure channel `{}`",
            channel.code
        ))
    })
}

/// The default channel's variants of each of `skus` that Vendure knows.
fn variants(skus: &[&str]) -> Result<HashMap<String, Variant>, Error> {
    if skus.is_empty() {
        return Ok(HashMap::new());
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        product_variants: Items,
    }
    #[derive(Deserialize)]
    struct Items {
        items: Vec<Variant>,
    }
    let data: Data = graphql::query(
        &format!(
            "query Variants($options: ProductVariantListOptions) {{ productVariants(options: $options) {{ items {{ {VARIANT_FIELDS} }} }} }}"
        ),
        json!({"options": {"filter": {"sku": {"in": skus}}, "take": skus.len()}}),
    )?;
    Ok(data
        .product_variants
        .items
        .into_iter()
        .filter(|v| skus.contains(&v.sku.as_str()))
        .map(|v| (v.sku.clone(), v))
        .collect())
}

/// The canonical record of a price a `price-lists` write left, if it left it
/// (it has a `priceList`).
fn canonical(variant: &Variant, price: &Price, audience: &Audience) -> Option<ListPrice> {
    let list = price.custom_fields.price_list.clone()?;
    Some(ListPrice {
        list,
        sku: variant.sku.clone(),
        currency: price.currency_code.clone(),
        audience: audience.clone(),
        breaks: vec![PriceBreak {
            min_quantity: 1,
            unit_price: money::decimal(price.price, &price.currency_code),
        }],
        valid_from: None,
        valid_until: None,
    })
}

/// Where a reconcile page ended: the channel and the listing cursor in it.
fn split_cursor(cursor: Option<&str>) -> Result<(Option<String>, Option<String>), Error> {
    let Some(cursor) = cursor else {
        return Ok((None, None));
    };
    let (channel, rest) = cursor.split_once('|').ok_or_else(|| {
        Error::permanent(format!(
            "reconcile cursor `{cursor}` is not `<channel id>|<position>`"
        ))
    })?;
    Ok((
        Some(channel.to_owned()),
        (!rest.is_empty()).then(|| rest.to_owned()),
    ))
}

/// One page of every written price, channel by channel (in id order), then by
/// variant id and currency; keyed by the outcome ids `write` returns.
pub fn reconcile(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let limit = limit.clamp(1, feed::MAX_PAGE) as usize;
    let (from, mut within) = split_cursor(cursor)?;
    let channels: Vec<PriceChannel> = audience::all()?
        .into_iter()
        .filter(|c| {
            from.as_deref()
                .is_none_or(|from| feed::padded(&c.id) >= feed::padded(from))
        })
        .collect();
    let query = format!(
        "query Variants($options: ProductVariantListOptions) {{ productVariants(options: $options) {{ items {{ {VARIANT_FIELDS} }} }} }}"
    );
    let mut records = Vec::new();
    let mut next_cursor = None;
    let mut more = false;
    for (i, channel) in channels.iter().enumerate() {
        if from.as_deref() != Some(channel.id.as_str()) {
            // A channel the cursor was not in starts at its beginning.
            within = None;
        }
        let Some(audience) = channel.audience() else {
            continue;
        };
        let mut listed = listing::Listed::new(&query, "productVariants");
        if let Some(token) = channel.header() {
            listed = listed.channel(token);
        }
        let page = listing::page(
            &listed,
            within.as_deref(),
            (limit - records.len()) as u32,
            |v: &Variant| &v.id,
            |v| {
                v.prices
                    .iter()
                    .filter_map(|p| canonical(v, p, &audience).map(|payload| (p, payload)))
                    .map(|(p, payload)| {
                        let key = format!("{}/{}/{}", channel.code, v.id, p.currency_code);
                        Ok((
                            p.currency_code.clone(),
                            Envelope::upsert(PRICE_LISTS, &key, &payload, None)?,
                        ))
                    })
                    .collect()
            },
        )?;
        records.extend(page.records);
        if let Some(position) = page.next_cursor {
            next_cursor = Some(format!("{}|{position}", channel.id));
        }
        if page.more {
            more = true;
            break;
        }
        if records.len() == limit {
            // Full: the next page starts with the next channel, if any.
            if let Some(next) = channels.get(i + 1) {
                next_cursor = Some(format!("{}|", next.id));
                more = true;
            }
            break;
        }
    }
    log::info(format!(
        "count={} more={more} Listed Vendure price-list prices.",
        records.len()
    ));
    Ok(Page {
        next_cursor: next_cursor.or_else(|| cursor.map(str::to_owned)),
        more,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(breaks: &[(i64, &str)]) -> ListPrice {
        ListPrice {
            list: "contract-C0042".into(),
            sku: "MUG".into(),
            currency: "EUR".into(),
            audience: Audience::Customer("C0042".into()),
            breaks: breaks
                .iter()
                .map(|(q, p)| PriceBreak {
                    min_quantity: *q,
                    unit_price: (*p).into(),
                })
                .collect(),
            valid_from: None,
            valid_until: None,
        }
    }

    fn refused(p: ListPrice) -> String {
        check(p).unwrap_err().message().to_owned()
    }

    #[test]
    fn the_price_for_one_unit_is_kept_and_the_other_breaks_are_named() {
        let wanted = check(price(&[(10, "9.00"), (1, "10.00"), (50, "8.50")])).unwrap();
        assert_eq!(wanted.price, 1000);
        assert_eq!(wanted.dropped, [10, 50]);
        assert_eq!(
            check(price(&[(1, "10")])).unwrap().dropped,
            Vec::<i64>::new()
        );
    }

    #[test]
    fn what_vendure_cannot_hold_is_refused_by_name() {
        assert!(refused(price(&[(5, "9.00")])).contains("start at 5"));
        assert!(refused(price(&[(1, "9.00"), (1, "8.00")])).contains("two prices"));
        assert!(refused(price(&[(0, "9.00"), (1, "8.00")])).contains("below 1"));
        assert!(refused(price(&[(1, "9.001")])).contains("9.001"));
        let mut dated = price(&[(1, "9.00")]);
        dated.valid_until = Some("2026-12-31".into());
        assert!(refused(dated).contains("2026-12-31"));
        let mut nameless = price(&[(1, "9.00")]);
        nameless.audience = Audience::Group(String::new());
        assert!(refused(nameless).contains("no code"));
    }

    #[test]
    fn a_channel_must_offer_the_currency_with_tax() {
        let wanted = check(price(&[(1, "9.00")])).unwrap();
        let mut channel = PriceChannel {
            id: "2".into(),
            code: "b2b-customer-C0042".into(),
            token: "b2b-customer-C0042".into(),
            available_currency_codes: vec!["USD".into()],
            prices_include_tax: true,
            custom_fields: Default::default(),
        };
        assert!(
            fits(&wanted, &channel)
                .unwrap_err()
                .message()
                .contains("`EUR`")
        );
        channel.available_currency_codes.push("EUR".into());
        assert!(fits(&wanted, &channel).is_ok());
        channel.prices_include_tax = false;
        assert!(fits(&wanted, &channel).is_err());
    }

    #[test]
    fn a_written_price_reads_back_as_its_record_without_dropped_breaks() {
        let variant = Variant {
            id: "7".into(),
            sku: "MUG".into(),
            channels: Vec::new(),
            prices: Vec::new(),
        };
        let held = Price {
            currency_code: "EUR".into(),
            price: 1000,
            custom_fields: PriceFields {
                price_list: Some("contract-C0042".into()),
            },
        };
        let audience = Audience::Customer("C0042".into());
        assert_eq!(
            canonical(&variant, &held, &audience),
            Some(price(&[(1, "10.00")]))
        );
        let unlisted = Price {
            custom_fields: PriceFields::default(),
            ..held
        };
        assert_eq!(canonical(&variant, &unlisted, &audience), None);
    }

    #[test]
    fn reconcile_cursors_name_the_channel() {
        assert_eq!(split_cursor(None).unwrap(), (None, None));
        assert_eq!(
            split_cursor(Some("3|0:000000000007:000000000EUR")).unwrap(),
            (Some("3".into()), Some("0:000000000007:000000000EUR".into()))
        );
        assert_eq!(split_cursor(Some("4|")).unwrap(), (Some("4".into()), None));
        assert!(split_cursor(Some("nonsense")).is_err());
    }
}
