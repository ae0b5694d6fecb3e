//! The `price-lists` stream: canonical [`ListPrice`]s written as Magento tier
//! prices, and listed for `reconcile`.
//!
//! A record is one SKU's prices for one audience: each quantity break becomes
//! a tier price `{price, price_type: "fixed", website_id, sku,
//! customer_group, quantity: min_quantity}` (`POST
//! /V1/products/tier-prices`). The audience is the customer group: `all` ->
//! `ALL GROUPS`; `group` -> the group of that code; `customer` -> the group
//! named by the account's code, which `customer-accounts` puts an account
//! without a group of its own in (a contract price). Tier prices of that SKU,
//! website and group at quantities the record no longer has are deleted
//! (`POST /V1/products/tier-prices-delete`), so the group's prices are the
//! record's. The outcome id is `<website_id>/<customer group>/<sku>`.
//!
//! Refused, each for its record: a currency other than the configured one
//! (Magento's tier prices are in the website's base currency), validity dates
//! (tier prices have none), a group Magento does not have (for a contract
//! price, `retryable`: its account's record creates the group). Magento
//! answers a list of failed prices, each a message with placeholders and its
//! values (SKU, website, group, quantity): each failure goes to the record of
//! the price it names, the others are applied.
//!
//! Magento keeps no price list codes, so the connector links each written key
//! to `<audience kind>:<list>/<sku>/<currency>` in the id map namespace
//! `magento:price-lists`; `reconcile` lists the tier prices of every product
//! grouped by website and customer group, with the list and audience of that
//! link (unlinked ones: list `magento:<group>`, audience by group), breaks by
//! quantity.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenon_sdk::canonical::{Audience, ListPrice, PriceBreak};
use tenon_sdk::prelude::*;

use crate::accounts;
use crate::criteria::SearchCriteria;
use crate::listing::{self, Row};
use crate::rest::{self, Magento, Scope};
use crate::{PRICE_LISTS, money};

/// Magento's customer group code for every group.
const ALL_GROUPS: &str = "ALL GROUPS";

/// The id map namespace of the lists and audiences written.
const LISTS: &str = "magento:price-lists";

/// One tier price, as Magento takes and lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TierPrice {
    price: Value,
    price_type: String,
    website_id: u32,
    sku: String,
    customer_group: String,
    quantity: Value,
}

/// A failed price, as Magento answers it.
#[derive(Debug, Deserialize)]
struct Failure {
    message: String,
    #[serde(default)]
    parameters: Value,
}

/// A checked record: its key and tier prices.
#[derive(Debug)]
struct Wanted {
    key: String,
    link: String,
    group: String,
    prices: Vec<TierPrice>,
}

/// Writes each record's tier prices; the outcome is its key.
pub fn write(api: &Magento, batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    let settings = &api.settings;
    let groups = accounts::groups(api)?;
    let mut outcomes: Vec<Result<Wanted, Error>> = batch
        .iter()
        .map(|d| {
            if d.envelope.op == Op::Delete {
                return Err(Error::permanent(
                    "price lists cannot be deleted through Tenon; send the prices the list has now",
                ));
            }
            let wanted = wanted(&d.json()?, &settings.currency, settings.website_id)?;
            if wanted.group != ALL_GROUPS && accounts::find(&groups, &wanted.group).is_none() {
                let customer = wanted.link.starts_with("customer:");
                let text = format!(
                    "Magento has no customer group `{}` (it has {})",
                    wanted.group,
                    accounts::codes(&groups)
                );
                return Err(if customer {
                    Error::retryable(format!(
                        "{text}: the `customer-accounts` record of that account creates it"
                    ))
                } else {
                    Error::permanent(text)
                });
            }
            Ok(wanted)
        })
        .collect();

    let valid: Vec<&Wanted> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let mut failed: Vec<(String, Error)> = Vec::new();
    let mut skus: Vec<&str> = valid.iter().map(|w| w.prices[0].sku.as_str()).collect();
    skus.sort_unstable();
    skus.dedup();
    let (held, unknown) = held_prices(api, &skus)?;
    for (sku, error) in unknown {
        failed.extend(
            valid
                .iter()
                .filter(|w| w.prices[0].sku == sku)
                .map(|w| (w.key.clone(), error.clone())),
        );
    }
    // The last version of each key: Magento refuses a request with one row twice.
    let sent: Vec<&Wanted> = valid
        .iter()
        .enumerate()
        .filter(|(i, w)| {
            !valid[i + 1..].iter().any(|later| later.key == w.key)
                && !failed.iter().any(|(k, _)| *k == w.key)
        })
        .map(|(_, w)| *w)
        .collect();
    if !sent.is_empty() {
        let prices: Vec<&TierPrice> = sent.iter().flat_map(|w| &w.prices).collect();
        let failures: Vec<Failure> = api.post(
            Scope::All,
            "/products/tier-prices",
            &json!({ "prices": prices }),
        )?;
        for (index, text) in blame(&failures, &sent) {
            failed.push((sent[index].key.clone(), Error::permanent(text)));
        }
        let stale: Vec<TierPrice> = sent
            .iter()
            .filter(|w| !failed.iter().any(|(k, _)| *k == w.key))
            .flat_map(|w| stale(w, &held))
            .collect();
        if !stale.is_empty() {
            let failures: Vec<Failure> = api.post(
                Scope::All,
                "/products/tier-prices-delete",
                &json!({ "prices": stale }),
            )?;
            for (index, text) in blame(&failures, &sent) {
                failed.push((
                    sent[index].key.clone(),
                    Error::permanent(format!("its former tier prices stay: {text}")),
                ));
            }
        }
    }
    for outcome in &mut outcomes {
        if let Ok(w) = outcome
            && let Some((_, e)) = failed.iter().find(|(k, _)| *k == w.key)
        {
            *outcome = Err(e.clone());
        }
    }
    let mut outcomes = outcomes.into_iter();
    Ok(record::apply_each(batch, |_| {
        let wanted = outcomes.next().expect("one outcome per delivery")?;
        idmap::link(LISTS, &wanted.key, &wanted.link)?;
        Ok(Some(wanted.key))
    }))
}

/// SKUs with Magento's refusal of each.
type Refusals = Vec<(String, Error)>;

/// The tier prices Magento holds for `skus`, and the SKUs it has no product
/// of with its refusal. Magento refuses the whole question for one unknown
/// SKU, so then each SKU is asked for alone.
fn held_prices(api: &Magento, skus: &[&str]) -> Result<(Vec<TierPrice>, Refusals), Error> {
    let ask = |skus: &[&str]| -> Result<Vec<TierPrice>, Error> {
        api.post(
            Scope::All,
            "/products/tier-prices-information",
            &json!({ "skus": skus }),
        )
    };
    if skus.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    match ask(skus) {
        Err(Error::Permanent(_)) if skus.len() > 1 => {
            let mut held = Vec::new();
            let mut unknown = Vec::new();
            for sku in skus {
                match ask(&[sku]) {
                    Ok(prices) => held.extend(prices),
                    Err(e @ Error::Permanent(_)) => unknown.push(((*sku).to_owned(), e)),
                    Err(e) => return Err(e),
                }
            }
            Ok((held, unknown))
        }
        Err(e @ Error::Permanent(_)) => Ok((Vec::new(), vec![(skus[0].to_owned(), e)])),
        other => other.map(|held| (held, Vec::new())),
    }
}

/// The customer group code of an audience.
fn group_of(audience: &Audience) -> &str {
    match audience {
        Audience::All => ALL_GROUPS,
        Audience::Group(code) | Audience::Customer(code) => code,
    }
}

/// The id of a record: `<website_id>/<customer group>/<sku>`.
fn key(website: u32, group: &str, sku: &str) -> String {
    format!("{website}/{group}/{sku}")
}

/// The tier prices of `price` for website `website`, if Magento can hold
/// them in `currency`.
fn wanted(price: &ListPrice, currency: &str, website: u32) -> Result<Wanted, Error> {
    let name = format!("price list `{}`, sku `{}`", price.list, price.sku);
    if price.currency != currency {
        return Err(Error::permanent(format!(
            "{name}: its currency is {} but Magento's tier prices are in {currency} (config `currency`)",
            price.currency
        )));
    }
    if price.valid_from.is_some() || price.valid_until.is_some() {
        return Err(Error::permanent(format!(
            "{name}: Magento's tier prices have no validity dates; send the prices that hold now"
        )));
    }
    if price.breaks.is_empty() {
        return Err(Error::permanent(format!("{name}: no quantity breaks")));
    }
    let group = group_of(&price.audience).to_owned();
    let mut prices = Vec::with_capacity(price.breaks.len());
    for b in &price.breaks {
        if b.min_quantity < 1 {
            return Err(Error::permanent(format!(
                "{name}: a break starts at {}, not at 1 or more",
                b.min_quantity
            )));
        }
        prices.push(TierPrice {
            price: money::number(&b.unit_price, currency)
                .map_err(|e| Error::permanent(format!("{name}: {e}")))?,
            price_type: "fixed".to_owned(),
            website_id: website,
            sku: price.sku.clone(),
            customer_group: group.clone(),
            quantity: json!(b.min_quantity),
        });
    }
    let kind = match price.audience {
        Audience::All => "all",
        Audience::Group(_) => "group",
        Audience::Customer(_) => "customer",
    };
    Ok(Wanted {
        key: key(website, &group, &price.sku),
        link: format!("{kind}:{}", price.key()),
        group,
        prices,
    })
}

/// Whether `a` and `b` are the same customer group (Magento ignores case).
fn same_group(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The tier prices Magento holds (`held`) for the SKU, website and group of
/// `w` at quantities `w` does not have.
fn stale(w: &Wanted, held: &[TierPrice]) -> Vec<TierPrice> {
    let first = &w.prices[0];
    held.iter()
        .filter(|h| {
            h.sku == first.sku
                && h.website_id == first.website_id
                && same_group(&h.customer_group, &first.customer_group)
                && !w.prices.iter().any(|p| {
                    money::whole(&p.quantity) == money::whole(&h.quantity)
                        && h.price_type == p.price_type
                })
        })
        .cloned()
        .collect()
}

/// Which of `written` each failure is about, with its rendered text: the
/// record of the price whose SKU, group and quantity its parameters name;
/// failing that, the records of its SKU and group, or of its SKU; failing
/// that, every record.
fn blame(failures: &[Failure], written: &[&Wanted]) -> Vec<(usize, String)> {
    let mut blamed = Vec::new();
    for failure in failures {
        let text = rest::render(&failure.message, &failure.parameters);
        let values: Vec<String> = match &failure.parameters {
            Value::Array(list) => list.iter().map(text_of).collect(),
            Value::Object(map) => map.values().map(text_of).collect(),
            other => vec![text_of(other)],
        };
        let names_sku = |p: &TierPrice| values.contains(&p.sku);
        let names_group = |p: &TierPrice| values.iter().any(|v| same_group(v, &p.customer_group));
        let names_quantity = |p: &TierPrice| {
            values
                .iter()
                .any(|v| money::whole(&Value::String(v.clone())) == money::whole(&p.quantity))
        };
        let levels: [&dyn Fn(&TierPrice) -> bool; 3] = [
            &|p| names_sku(p) && names_group(p) && names_quantity(p),
            &|p| names_sku(p) && names_group(p),
            &|p| names_sku(p),
        ];
        let mut found: Vec<usize> = Vec::new();
        for level in levels {
            found = (0..written.len())
                .filter(|i| written[*i].prices.iter().any(level))
                .collect();
            if !found.is_empty() {
                break;
            }
        }
        if found.is_empty() {
            found = (0..written.len()).collect();
        }
        blamed.extend(found.into_iter().map(|i| (i, text.clone())));
    }
    blamed
}

/// A parameter as text.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A product as the listing reads it.
#[derive(Debug, Deserialize)]
struct Listed {
    id: u64,
    sku: String,
}

impl listing::Item for Listed {
    fn entity_id(&self) -> u64 {
        self.id
    }
}

/// One page of every product's tier prices, a record per website and
/// customer group, keyed `<website_id>/<customer group>/<sku>`.
pub fn reconcile(api: &Magento, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let currency = api.settings.currency.clone();
    let page = listing::page(
        api,
        Scope::All,
        "/products",
        SearchCriteria::new(),
        cursor,
        limit,
        |products: &[Listed]| {
            if products.is_empty() {
                return Ok(Vec::new());
            }
            let skus: Vec<&str> = products.iter().map(|p| p.sku.as_str()).collect();
            let (held, _) = held_prices(api, &skus)?;
            let mut rows = Vec::new();
            for product in products {
                for (website, group, prices) in by_group(&product.sku, &held) {
                    let key = key(website, &group, &product.sku);
                    let link = idmap::resolve(LISTS, &key);
                    let payload =
                        canonical(&product.sku, &group, &prices, link.as_deref(), &currency);
                    rows.push(Row {
                        id: product.id,
                        sub: format!("{website}/{group}"),
                        envelope: Envelope::upsert(PRICE_LISTS, &key, &payload, None)?,
                    });
                }
            }
            Ok(rows)
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Magento tier prices.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}

/// `sku`'s fixed tier prices in `held`, by website and customer group.
fn by_group(sku: &str, held: &[TierPrice]) -> Vec<(u32, String, Vec<TierPrice>)> {
    let mut groups: Vec<(u32, String, Vec<TierPrice>)> = Vec::new();
    for price in held
        .iter()
        .filter(|p| p.sku == sku && p.price_type == "fixed")
    {
        match groups
            .iter_mut()
            .find(|(w, g, _)| *w == price.website_id && same_group(g, &price.customer_group))
        {
            Some((_, _, prices)) => prices.push(price.clone()),
            None => groups.push((
                price.website_id,
                price.customer_group.clone(),
                vec![price.clone()],
            )),
        }
    }
    groups
}

/// The canonical list price of `sku`'s tier `prices` for customer group
/// `group`, with the list and audience kind of `link` (`<kind>:<list
/// key>`) if the connector wrote them.
fn canonical(
    sku: &str,
    group: &str,
    prices: &[TierPrice],
    link: Option<&str>,
    currency: &str,
) -> ListPrice {
    let suffix = format!("/{sku}/{currency}");
    let (kind, list) = match link.and_then(|l| l.split_once(':')) {
        Some((kind, key)) => (kind, key.strip_suffix(&suffix).unwrap_or(key).to_owned()),
        None if same_group(group, ALL_GROUPS) => ("all", format!("magento:{group}")),
        None => ("group", format!("magento:{group}")),
    };
    let audience = match kind {
        "all" => Audience::All,
        "customer" => Audience::Customer(group.to_owned()),
        _ => Audience::Group(group.to_owned()),
    };
    let mut breaks: Vec<PriceBreak> = prices
        .iter()
        .filter_map(|p| {
            Some(PriceBreak {
                min_quantity: money::whole(&p.quantity)?,
                unit_price: money::decimal(money::minor(&p.price, currency).ok()?, currency),
            })
        })
        .collect();
    breaks.sort_by_key(|b| b.min_quantity);
    ListPrice {
        list,
        sku: sku.to_owned(),
        currency: currency.to_owned(),
        audience,
        breaks,
        valid_from: None,
        valid_until: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_price(audience: Audience) -> ListPrice {
        ListPrice {
            list: "contract-C0042".into(),
            sku: "MUG".into(),
            currency: "EUR".into(),
            audience,
            breaks: vec![
                PriceBreak {
                    min_quantity: 1,
                    unit_price: "10.00".into(),
                },
                PriceBreak {
                    min_quantity: 10,
                    unit_price: "9.50".into(),
                },
            ],
            valid_from: None,
            valid_until: None,
        }
    }

    #[test]
    fn each_audience_is_a_customer_group_and_each_break_a_tier_price() {
        let all = wanted(&list_price(Audience::All), "EUR", 0).unwrap();
        assert_eq!(all.key, "0/ALL GROUPS/MUG");
        assert_eq!(all.link, "all:contract-C0042/MUG/EUR");
        assert_eq!(
            serde_json::to_value(&all.prices).unwrap(),
            json!([
                {"price": 10.0, "price_type": "fixed", "website_id": 0, "sku": "MUG",
                 "customer_group": "ALL GROUPS", "quantity": 1},
                {"price": 9.5, "price_type": "fixed", "website_id": 0, "sku": "MUG",
                 "customer_group": "ALL GROUPS", "quantity": 10}
            ])
        );
        let group = wanted(&list_price(Audience::Group("Wholesale".into())), "EUR", 1).unwrap();
        assert_eq!(
            (group.key.as_str(), group.prices[0].customer_group.as_str()),
            ("1/Wholesale/MUG", "Wholesale")
        );
        let contract = wanted(&list_price(Audience::Customer("C0042".into())), "EUR", 0).unwrap();
        assert_eq!(
            contract.prices[1].customer_group, "C0042",
            "the group named by the account code"
        );
        assert!(contract.link.starts_with("customer:"));
    }

    #[test]
    fn a_price_magento_cannot_hold_is_refused_naming_both_currencies() {
        let mut dollars = list_price(Audience::All);
        dollars.currency = "USD".into();
        let refused = wanted(&dollars, "EUR", 0).unwrap_err();
        assert!(
            refused
                .message()
                .contains("its currency is USD but Magento's tier prices are in EUR")
        );
        let mut dated = list_price(Audience::All);
        dated.valid_until = Some("2026-12-31".into());
        assert!(
            wanted(&dated, "EUR", 0)
                .unwrap_err()
                .message()
                .contains("validity dates")
        );
    }

    #[test]
    fn magentos_failures_go_to_the_records_of_the_prices_they_name() {
        let a = wanted(&list_price(Audience::Customer("C0042".into())), "EUR", 0).unwrap();
        let mut other = list_price(Audience::All);
        other.sku = "TEE".into();
        let b = wanted(&other, "EUR", 0).unwrap();
        let failures: Vec<Failure> = serde_json::from_value(json!([{
            "message": "Invalid attribute Price = %price. Row ID: SKU = %SKU, Website ID: %websiteId, Customer Group: %customerGroup, Quantity: %qty.",
            "parameters": ["-1", "TEE", "0", "ALL GROUPS", "10"]
        }, {
            "message": "Something went wrong with %1", "parameters": ["nothing known"]
        }]))
        .unwrap();
        let blamed = blame(&failures, &[&a, &b]);
        assert_eq!(blamed[0], (1, "Invalid attribute Price = -1. Row ID: SKU = TEE, Website ID: 0, Customer Group: ALL GROUPS, Quantity: 10.".to_owned()));
        assert_eq!(
            blamed[1..].iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 1],
            "a failure naming no price is every record's"
        );
    }

    #[test]
    fn breaks_the_record_no_longer_has_are_stale() {
        let w = wanted(&list_price(Audience::Group("Wholesale".into())), "EUR", 0).unwrap();
        let held: Vec<TierPrice> = serde_json::from_value(json!([
            {"price": 10, "price_type": "fixed", "website_id": 0, "sku": "MUG", "customer_group": "wholesale", "quantity": 1},
            {"price": 8, "price_type": "fixed", "website_id": 0, "sku": "MUG", "customer_group": "Wholesale", "quantity": 50},
            {"price": 7, "price_type": "fixed", "website_id": 0, "sku": "MUG", "customer_group": "Retailer", "quantity": 50}
        ]))
        .unwrap();
        let stale = stale(&w, &held);
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].quantity, json!(50));
        assert_eq!(stale[0].customer_group, "Wholesale");
    }

    #[test]
    fn tier_prices_read_back_as_the_list_price_written() {
        for audience in [
            Audience::All,
            Audience::Group("Wholesale".into()),
            Audience::Customer("C0042".into()),
        ] {
            let written = list_price(audience);
            let w = wanted(&written, "EUR", 0).unwrap();
            // Magento lists them as floats, in any order.
            let mut held: Vec<TierPrice> = w.prices.clone();
            held.reverse();
            held[0].quantity = json!(10.0);
            let grouped = by_group("MUG", &held);
            assert_eq!(grouped.len(), 1);
            let (_, group, prices) = &grouped[0];
            assert_eq!(
                canonical("MUG", group, prices, Some(&w.link), "EUR"),
                written
            );
        }
        let unlinked = canonical("MUG", "ALL GROUPS", &[], None, "EUR");
        assert_eq!(
            (unlinked.list.as_str(), unlinked.audience),
            ("magento:ALL GROUPS", Audience::All)
        );
    }
}
