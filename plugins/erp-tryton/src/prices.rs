//! Changed-since reads of `price-lists`: Tryton's `product.price_list`s and
//! the products' own list prices as canonical [`ListPrice`]s, one record per
//! list, SKU and currency (the company's).
//!
//! - **`retail`**: every salable product with a code, its list price
//!   (`list_price_used`), audience `all`, one break at 1; not published when
//!   the config key `retail_prices` is `false`.
//! - **Each published price list**, by its name: the prices Tryton's rule
//!   gives each product it prices. Tryton takes the *first* line of the list
//!   (in `sequence` order, empty sequences first, then by id) whose product
//!   (or none), category (the product's or a parent of them, or none) and
//!   `quantity` (at most the quantity ordered, or none) match; so for every
//!   product the connector evaluates that rule at 1 and at every line quantity
//!   above 1 (rounded up to a whole unit), and each price that differs from
//!   the one below is a break. A product no line matches at any quantity gets
//!   no record. Quantities below the first break have no price in Tryton
//!   either.
//! - **Audience**: a list named in `group_lists` is that group's; else a list
//!   that is the sale price list of exactly one party with a code is that
//!   customer's (`customer(<party code>)`); other lists (no party, several
//!   parties) are not published.
//! - **Prices**: formulas of the safe subset ([`formula`](crate::formula)),
//!   exactly, kept at Tryton's four price digits, then rounded half to even
//!   to the currency's minor unit (what a line of one unit costs in Tryton).
//!   A product whose price would come from a line outside the subset, or from
//!   `unit_price` of a list without a base price, is left out of the page and
//!   logged at error level with the line and the formula.
//!
//! A record's position is the newest of the product's dates (its own and its
//! template's) and, for a price list, the list's, its lines' and its party's.
//! Reads only.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tenon_sdk::canonical::{Audience, ListPrice, PriceBreak};
use tenon_sdk::money;
use tenon_sdk::prelude::*;

use crate::formula::{Bases, Dec, Formula};
use crate::read::{Fresh, changed_domain, newest, object, page};
use crate::rpc::Tryton;
use crate::settings::Settings;

/// The list of the products' own list prices.
pub const RETAIL: &str = "retail";

/// The date fields that place a record.
const DATES: [&str; 2] = ["create_date", "write_date"];

/// A line of a Tryton price list.
#[derive(Debug, Clone)]
pub struct Line {
    pub id: i64,
    pub sequence: Option<i64>,
    pub product: Option<i64>,
    pub category: Option<i64>,
    pub quantity: Option<f64>,
    pub formula: String,
}

/// A product as the price rule sees it.
#[derive(Debug, Clone, Default)]
pub struct Item {
    pub id: i64,
    /// Its categories and all their parents.
    pub categories: BTreeSet<i64>,
    pub bases: Bases,
}

impl Line {
    /// Whether Tryton's `match` takes this line for `item` at `quantity`.
    fn matches(&self, item: &Item, quantity: i64) -> bool {
        self.product.is_none_or(|product| product == item.id)
            && self
                .category
                .is_none_or(|category| item.categories.contains(&category))
            && self.quantity.is_none_or(|q| q <= quantity as f64)
    }

    /// The whole quantity from which the line's quantity condition holds.
    fn threshold(&self) -> i64 {
        self.quantity.map_or(1, |q| (q.ceil() as i64).max(1))
    }
}

/// Sorts `lines` as Tryton orders them: `sequence` ascending with empty
/// sequences first, then id.
pub fn sort_lines(lines: &mut [Line]) {
    lines.sort_by_key(|line| (line.sequence.is_some(), line.sequence, line.id));
}

/// The breaks `lines` (sorted by [`sort_lines`]) give `item` in a currency of
/// `exponent` decimals: `Ok(None)` when no line prices it, an error naming the
/// line when a price cannot be published. The second value counts prices that
/// were rounded to the currency.
pub fn breaks(
    lines: &[Line],
    item: &Item,
    exponent: u32,
) -> Result<Option<(Vec<PriceBreak>, usize)>, String> {
    let candidates: Vec<&Line> = lines
        .iter()
        .filter(|line| line.matches(item, i64::MAX))
        .collect();
    let thresholds: BTreeSet<i64> = std::iter::once(1)
        .chain(candidates.iter().map(|line| line.threshold()))
        .collect();
    let mut breaks: Vec<PriceBreak> = Vec::new();
    let mut rounded = 0;
    for quantity in thresholds {
        let Some(line) = candidates.iter().find(|line| line.matches(item, quantity)) else {
            continue;
        };
        let why = |reason: String| format!("line {} `{}`: {reason}", line.id, line.formula);
        let formula = Formula::parse(&line.formula).map_err(why)?;
        let price = formula.eval(&item.bases).map_err(why)?.ok_or_else(|| {
            why("the list has no base price for `unit_price` (Tryton gives no price)".into())
        })?;
        if price.is_negative() {
            return Err(why(format!("the price {price} is negative")));
        }
        let currency = price.round_half_even(exponent);
        if currency != price {
            rounded += 1;
        }
        let minor = currency
            .to_minor(exponent)
            .ok_or_else(|| why(format!("the price {price} does not fit")))?;
        let unit_price = money::format(minor, exponent);
        if breaks
            .last()
            .is_some_and(|last| last.unit_price == unit_price)
        {
            continue;
        }
        breaks.push(PriceBreak {
            min_quantity: quantity,
            unit_price,
        });
    }
    Ok((!breaks.is_empty()).then_some((breaks, rounded)))
}

/// Who list `name` is for: its group in `group_lists`, else its one party.
pub fn audience(
    name: &str,
    groups: &BTreeMap<&str, &str>,
    parties: &[String],
) -> Result<Audience, String> {
    if let Some(group) = groups.get(name) {
        return Ok(Audience::Group((*group).to_owned()));
    }
    match parties {
        [one] => Ok(Audience::Customer(one.clone())),
        [] => Err("no party has it as its sale price list and `group_lists` names it not".into()),
        many => Err(format!(
            "{} parties have it as their sale price list: name it in `group_lists` to \
             publish it as a group's",
            many.len()
        )),
    }
}

/// A price list of the company, with what places its records.
struct List {
    name: String,
    audience: Audience,
    lines: Vec<Line>,
    /// Its base price: `list_price`, `cost_price` or none.
    price: Option<String>,
    /// The newest of its dates, its lines' and its party's.
    time: String,
    /// Whether a line prices every product (no product set).
    generic: bool,
}

/// A product with a code, salable.
struct Product {
    code: String,
    item: Item,
    /// The newest of its dates and its template's.
    time: String,
}

/// One page of `price-lists` after `cursor`.
pub fn changed_since(
    tryton: &Tryton,
    settings: &Settings,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page, Error> {
    let mark = Watermark::from_cursor(cursor);
    let currency = tryton.company_currency()?;
    let exponent = money::exponent(&currency);
    let groups = settings.list_groups()?;
    let lists = lists(tryton, &groups)?;
    // Times compare as text; `since` is the watermark's second.
    let since = mark.time.get(..19).unwrap_or_default().to_owned();
    let start = mark.is_start();
    let changed: Vec<&List> = lists
        .iter()
        .filter(|list| start || list.time.as_str() >= since.as_str())
        .collect();

    // The products to price: those changed, and those of changed lists.
    let mut products = salable(
        tryton,
        Some(changed_domain(
            &mark,
            &["create_date", "write_date", "template.write_date"],
        )?),
    )?;
    let mut wanted: BTreeSet<i64> = BTreeSet::new();
    let mut every = false;
    for list in &changed {
        every |= list.generic || list.lines.iter().any(|l| l.category.is_some());
        wanted.extend(list.lines.iter().filter_map(|line| line.product));
    }
    let missing: Vec<i64> = wanted
        .into_iter()
        .filter(|id| !products.contains_key(id))
        .collect();
    if every && !start {
        products.extend(salable(tryton, None)?);
    } else if !missing.is_empty() {
        products.extend(salable(tryton, Some(json!(["id", "in", missing])))?);
    }
    if lists
        .iter()
        .any(|list| list.price.as_deref() == Some("cost_price"))
        || lists.iter().any(|list| {
            list.lines
                .iter()
                .any(|line| line.formula.contains("cost_price"))
        })
    {
        cost_prices(tryton, &mut products)?;
    }

    let mut fresh = Vec::new();
    let mut refused = 0;
    let mut rounded = 0;
    for product in products.values() {
        let retail = Item {
            bases: Bases {
                unit_price: product.item.bases.list_price,
                ..product.item.bases
            },
            ..product.item.clone()
        };
        let retail_line = Line {
            id: 0,
            sequence: None,
            product: None,
            category: None,
            quantity: None,
            formula: "list_price".into(),
        };
        let mut candidates = Vec::new();
        if settings.retail_prices && retail.bases.list_price.is_some() {
            candidates.push((
                RETAIL,
                Audience::All,
                &product.time,
                retail,
                vec![retail_line],
            ));
        }
        for list in &lists {
            let time = if list.time > product.time {
                &list.time
            } else {
                &product.time
            };
            let item = Item {
                bases: Bases {
                    unit_price: match list.price.as_deref() {
                        Some("list_price") => product.item.bases.list_price,
                        Some("cost_price") => product.item.bases.cost_price,
                        _ => None,
                    },
                    ..product.item.bases
                },
                ..product.item.clone()
            };
            candidates.push((
                list.name.as_str(),
                list.audience.clone(),
                time,
                item,
                list.lines.clone(),
            ));
        }
        for (name, audience, time, item, lines) in candidates {
            let price = ListPrice {
                list: name.to_owned(),
                sku: product.code.clone(),
                currency: currency.clone(),
                audience,
                breaks: Vec::new(),
                valid_from: None,
                valid_until: None,
            };
            let key = price.key();
            if !mark.is_new(time, &key) {
                continue;
            }
            match breaks(&lines, &item, exponent) {
                Ok(None) => {}
                Ok(Some((breaks, n))) => {
                    rounded += n;
                    fresh.push(Fresh::keyed(
                        time.clone(),
                        key,
                        ListPrice { breaks, ..price },
                    ));
                }
                Err(why) => {
                    refused += 1;
                    log::error(format!(
                        "list={name} sku={} Left out a price Tenon cannot publish exactly: {why}.",
                        product.code
                    ));
                }
            }
        }
    }
    if refused + rounded > 0 {
        log::info(format!(
            "stream={} refused={refused} rounded={rounded} Prices left out or rounded in this read.",
            crate::PRICE_LISTS
        ));
    }
    page(crate::PRICE_LISTS, mark, fresh, limit, "prices")
}

/// The company's price lists that have an audience, with their lines.
fn lists(tryton: &Tryton, groups: &BTreeMap<&str, &str>) -> Result<Vec<List>, Error> {
    let company = tryton.context["company"].clone();
    let rows = tryton.search_read(
        "product.price_list",
        json!([["company", "=", company]]),
        None,
        json!([["id", "ASC"]]),
        &["name", "price", "create_date", "write_date"],
    )?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().filter_map(|row| row["id"].as_i64()).collect();
    let line_rows = tryton.search_read(
        "product.price_list.line",
        json!([["price_list", "in", ids]]),
        None,
        json!([["id", "ASC"]]),
        &[
            "price_list",
            "sequence",
            "product",
            "category",
            "quantity",
            "formula",
            "create_date",
            "write_date",
        ],
    )?;
    // The parties whose sale price list (for this company) is one of them.
    let parties = tryton.search_read(
        "party.party",
        json!([["sale_price_lists.sale_price_list", "in", ids]]),
        None,
        json!([["id", "ASC"]]),
        &["code", "sale_price_list", "create_date", "write_date"],
    )?;

    let mut lists = Vec::new();
    for row in &rows {
        let Some(id) = row["id"].as_i64() else {
            continue;
        };
        let name = row["name"].as_str().unwrap_or_default().to_owned();
        let mut times = vec![newest(object(row), &DATES)];
        let mut lines = Vec::new();
        for line in line_rows
            .iter()
            .filter(|l| l["price_list"].as_i64() == Some(id))
        {
            times.push(newest(object(line), &DATES));
            lines.push(Line {
                id: line["id"].as_i64().unwrap_or_default(),
                sequence: line["sequence"].as_i64(),
                product: line["product"].as_i64(),
                category: line["category"].as_i64(),
                quantity: line["quantity"].as_f64(),
                formula: line["formula"].as_str().unwrap_or_default().to_owned(),
            });
        }
        sort_lines(&mut lines);
        let mut codes = Vec::new();
        for party in parties
            .iter()
            .filter(|p| p["sale_price_list"].as_i64() == Some(id))
        {
            times.push(newest(object(party), &DATES));
            if let Some(code) = party["code"].as_str().filter(|c| !c.is_empty()) {
                codes.push(code.to_owned());
            }
        }
        if name == RETAIL {
            log::warn(format!(
                "list={name} id={id} Not publishing a Tryton price list named like the list \
                 of list prices; rename it."
            ));
            continue;
        }
        let audience = match audience(&name, groups, &codes) {
            Ok(audience) => audience,
            Err(why) => {
                log::debug(format!(
                    "list={name} id={id} Price list not published: {why}."
                ));
                continue;
            }
        };
        lists.push(List {
            generic: lines.iter().any(|line| line.product.is_none()),
            name,
            audience,
            lines,
            price: row["price"].as_str().map(str::to_owned),
            time: times.into_iter().flatten().max().unwrap_or_default(),
        });
    }
    Ok(lists)
}

/// The salable products with a code that also match `filter` (a domain
/// clause; every one without), by id.
fn salable(tryton: &Tryton, filter: Option<Value>) -> Result<BTreeMap<i64, Product>, Error> {
    let mut domain = vec![
        json!(["template.salable", "=", true]),
        json!(["code", "!=", null]),
        json!(["code", "!=", ""]),
    ];
    domain.extend(filter.filter(|f| f.as_array().is_some_and(|a| !a.is_empty())));
    let domain = Value::Array(domain);
    let rows = tryton.search_read(
        "product.product",
        domain,
        None,
        json!([["id", "ASC"]]),
        &[
            "code",
            "list_price_used",
            "categories_all",
            "create_date",
            "write_date",
            "template.write_date",
        ],
    )?;
    let parents = category_parents(tryton, &rows)?;
    let mut products = BTreeMap::new();
    for row in &rows {
        let Some(id) = row["id"].as_i64() else {
            continue;
        };
        let mut categories = BTreeSet::new();
        for category in row["categories_all"].as_array().into_iter().flatten() {
            let mut next = category.as_i64();
            while let Some(category) = next {
                if !categories.insert(category) {
                    break;
                }
                next = parents.get(&category).copied().flatten();
            }
        }
        products.insert(
            id,
            Product {
                code: row["code"].as_str().unwrap_or_default().to_owned(),
                item: Item {
                    id,
                    categories,
                    bases: Bases {
                        unit_price: None,
                        list_price: crate::value::decimal(&row["list_price_used"])
                            .and_then(|text| Dec::parse(&text)),
                        cost_price: None,
                    },
                },
                time: newest(
                    object(row),
                    &["create_date", "write_date", "template.write_date"],
                )
                .unwrap_or_default(),
            },
        );
    }
    Ok(products)
}

/// Each category's parent, for the categories of `rows` and their parents.
fn category_parents(tryton: &Tryton, rows: &[Value]) -> Result<BTreeMap<i64, Option<i64>>, Error> {
    if !rows.iter().any(|row| {
        row["categories_all"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    }) {
        return Ok(BTreeMap::new());
    }
    // Categories are few: all of them, once.
    let categories = tryton.search_read(
        "product.category",
        json!([]),
        None,
        json!([["id", "ASC"]]),
        &["parent"],
    )?;
    Ok(categories
        .iter()
        .filter_map(|c| Some((c["id"].as_i64()?, c["parent"].as_i64())))
        .collect())
}

/// Reads the cost prices of `products` (a company-dependent value).
fn cost_prices(tryton: &Tryton, products: &mut BTreeMap<i64, Product>) -> Result<(), Error> {
    if products.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = products.keys().copied().collect();
    let rows = tryton.model(
        "product.product",
        "read",
        vec![json!(ids), json!(["cost_price"])],
    )?;
    for row in rows.as_array().into_iter().flatten() {
        if let Some(product) = row["id"].as_i64().and_then(|id| products.get_mut(&id)) {
            product.item.bases.cost_price =
                crate::value::decimal(&row["cost_price"]).and_then(|text| Dec::parse(&text));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        id: i64,
        sequence: Option<i64>,
        product: Option<i64>,
        quantity: Option<f64>,
        formula: &str,
    ) -> Line {
        Line {
            id,
            sequence,
            product,
            category: None,
            quantity,
            formula: formula.into(),
        }
    }

    fn item(id: i64, list_price: &str) -> Item {
        let price = Dec::parse(list_price);
        Item {
            id,
            categories: BTreeSet::from([1]),
            bases: Bases {
                unit_price: price,
                list_price: price,
                cost_price: None,
            },
        }
    }

    fn b(min_quantity: i64, unit_price: &str) -> PriceBreak {
        PriceBreak {
            min_quantity,
            unit_price: unit_price.into(),
        }
    }

    /// The list measured against Tryton 8.2 (`sale_price_uom` with the list
    /// in the context): the mug at 8.7500 below 10 and 7.6000 from 10, the
    /// tee at 18.9050.
    fn contract() -> Vec<Line> {
        let mut lines = vec![
            line(3, Some(3), None, None, "list_price * 0.95"),
            line(1, Some(1), Some(1), Some(10.0), "unit_price * 0.8"),
            line(2, Some(2), Some(1), None, "8.75"),
        ];
        sort_lines(&mut lines);
        lines
    }

    #[test]
    fn quantity_lines_become_breaks_as_tryton_matches_them() {
        let (mug, rounded) = breaks(&contract(), &item(1, "9.50"), 2).unwrap().unwrap();
        assert_eq!(mug, [b(1, "8.75"), b(10, "7.60")]);
        assert_eq!(rounded, 0);
        // 19.90 * 0.95 = 18.905: Tryton keeps 18.9050, one unit costs 18.90.
        let (tee, rounded) = breaks(&contract(), &item(2, "19.90"), 2).unwrap().unwrap();
        assert_eq!(tee, [b(1, "18.90")]);
        assert_eq!(rounded, 1);
    }

    #[test]
    fn empty_sequences_come_first_then_ids() {
        let mut lines = vec![
            line(5, Some(1), None, None, "1.00"),
            line(7, None, None, None, "3.00"),
            line(6, None, None, None, "2.00"),
        ];
        sort_lines(&mut lines);
        let ids: Vec<i64> = lines.iter().map(|l| l.id).collect();
        assert_eq!(ids, [6, 7, 5]);
        assert_eq!(
            breaks(&lines, &item(1, "9"), 2).unwrap().unwrap().0,
            [b(1, "2.00")]
        );
    }

    #[test]
    fn a_product_no_line_prices_gets_no_record() {
        let lines = vec![line(1, None, Some(1), None, "5.00")];
        assert!(breaks(&lines, &item(2, "9.50"), 2).unwrap().is_none());
    }

    #[test]
    fn quantities_below_the_first_line_have_no_price_and_equal_breaks_merge() {
        let mut lines = vec![
            line(1, Some(1), None, Some(2.5), "unit_price * 0.5"),
            line(2, Some(2), None, Some(10.0), "unit_price * 0.5"),
            line(3, Some(3), None, Some(20.0), "1.00"),
        ];
        sort_lines(&mut lines);
        // 2.5 holds from 3 units; the line at 10 gives the same price; the
        // line at 20 comes after the one at 2.5, which still matches.
        assert_eq!(
            breaks(&lines, &item(1, "9.00"), 2).unwrap().unwrap().0,
            [b(3, "4.50")]
        );
    }

    #[test]
    fn categories_match_with_their_parents() {
        let mut lines = vec![Line {
            category: Some(1),
            ..line(1, None, None, None, "unit_price * 0.5")
        }];
        sort_lines(&mut lines);
        assert_eq!(
            breaks(&lines, &item(1, "9.00"), 2).unwrap().unwrap().0,
            [b(1, "4.50")]
        );
        let other = Item {
            categories: BTreeSet::from([2]),
            ..item(1, "9.00")
        };
        assert!(breaks(&lines, &other, 2).unwrap().is_none());
    }

    #[test]
    fn an_unsupported_line_that_applies_refuses_the_record() {
        let mut lines = vec![
            line(9, Some(1), Some(1), Some(5.0), "unit_price * 0.9 - 1"),
            line(8, Some(2), None, None, "unit_price"),
        ];
        sort_lines(&mut lines);
        let why = breaks(&lines, &item(1, "10"), 2).unwrap_err();
        assert!(why.contains("line 9 `unit_price * 0.9 - 1`"), "{why}");
        // The product it does not apply to is priced.
        assert_eq!(
            breaks(&lines, &item(2, "10"), 2).unwrap().unwrap().0,
            [b(1, "10.00")]
        );
        // A list without a base price gives no unit_price.
        let no_base = Item {
            bases: Bases {
                unit_price: None,
                ..item(2, "10").bases
            },
            ..item(2, "10")
        };
        let why = breaks(&lines, &no_base, 2).unwrap_err();
        assert!(why.contains("no base price"), "{why}");
    }

    #[test]
    fn currencies_keep_their_decimals() {
        let lines = vec![line(1, None, None, None, "unit_price * 0.9")];
        assert_eq!(
            breaks(&lines, &item(1, "1500"), 0).unwrap().unwrap().0,
            [b(1, "1350")]
        );
        assert_eq!(
            breaks(&lines, &item(1, "2.125"), 3).unwrap().unwrap().0,
            [b(1, "1.912")]
        );
    }

    #[test]
    fn the_audience_is_a_group_or_one_customer() {
        let groups = BTreeMap::from([("Wholesale 2026", "Wholesale")]);
        assert_eq!(
            audience("Wholesale 2026", &groups, &["7".into(), "8".into()]).unwrap(),
            Audience::Group("Wholesale".into())
        );
        assert_eq!(
            audience("Contract Ada", &groups, &["C0042".into()]).unwrap(),
            Audience::Customer("C0042".into())
        );
        assert!(
            audience("Nobody's", &groups, &[])
                .unwrap_err()
                .contains("no party")
        );
        assert!(
            audience("Shared", &groups, &["1".into(), "2".into()])
                .unwrap_err()
                .contains("2 parties")
        );
    }
}
