//! `order-to-sale`: turns storefront `orders` into ERP `sale-orders`.
//!
//! - **Reads** `orders` records (the `demo-shop` payload); records of any other
//!   stream pass through unchanged.
//! - **Writes** one `sale-orders` record per order, with the same key and source
//!   time: `external_ref` = `shop:<id>`, the customer's first and last name joined,
//!   prices as integer cents (parsed from the decimal strings exactly, never
//!   through floating point), status `placed`/`paid` -> `open`, `cancelled` ->
//!   `cancelled`, and `total_cents` recomputed from the lines and checked against
//!   the order's `total`.
//! - **Fails** the batch with a permanent error naming the record key when an order
//!   does not convert: a price with more than two decimals or not a number, a
//!   total that does not match the lines, an unknown status, or a currency other
//!   than the configured one.
//! - **Config**: `currency` (optional, no default): when set, only orders in this
//!   currency are accepted.
//! - **Secrets**, **egress**, **cursor**: none; a transform has no network and no state.

use serde::{Deserialize, Serialize};
use tenon_sdk::prelude::*;

/// The input stream.
const ORDERS: &str = "orders";

/// The output stream.
const SALE_ORDERS: &str = "sale-orders";

/// An `orders` payload: the fields of the shop's order this transform reads.
#[derive(Debug, Deserialize)]
struct Order {
    id: String,
    status: String,
    currency: String,
    customer: Customer,
    lines: Vec<OrderLine>,
    total: String,
}

/// The buyer of an [`Order`].
#[derive(Debug, Deserialize)]
struct Customer {
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

/// One line of an [`Order`]; `unit_price` is a decimal string (`"19.90"`).
#[derive(Debug, Deserialize)]
struct OrderLine {
    sku: String,
    quantity: i64,
    unit_price: String,
}

/// A `sale-orders` payload, the body the ledger accepts.
#[derive(Debug, PartialEq, Eq, Serialize)]
struct SaleOrder {
    external_ref: String,
    customer_email: String,
    customer_name: String,
    currency: String,
    lines: Vec<SaleLine>,
    total_cents: i64,
    status: &'static str,
}

/// One line of a [`SaleOrder`].
#[derive(Debug, PartialEq, Eq, Serialize)]
struct SaleLine {
    sku: String,
    quantity: i64,
    unit_price_cents: i64,
}

/// The order-to-sales-order transform.
struct OrderToSale;

impl Transform for OrderToSale {
    fn describe() -> Descriptor {
        Descriptor {
            name: "order-to-sale".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Transform,
            description: "Storefront orders to ERP sales orders, prices in integer cents."
                .to_owned(),
            streams: vec![
                // Consumed: what a flow hands to the transform.
                StreamInfo::writable(ORDERS, tenon_sdk::describe::ANY_OBJECT_SCHEMA),
                // Produced: what the transform hands on.
                StreamInfo::readable(SALE_ORDERS, None, tenon_sdk::describe::ANY_OBJECT_SCHEMA),
            ],
            egress: Vec::new(),
            config: vec![ConfigKey::optional(
                "currency",
                "Only accept orders in this currency (like EUR); unset accepts any.",
                None,
            )],
            secrets: Vec::new(),
        }
    }

    fn transform(batch: Vec<Envelope>) -> Result<Vec<Envelope>, Error> {
        map_batch(batch, config::get("currency").as_deref())
    }
}

/// The whole transform, without the host: `orders` records become `sale-orders`
/// records, others pass through. Public so that benchmarks can run the very same
/// code natively beside the component.
pub fn map_batch(batch: Vec<Envelope>, currency: Option<&str>) -> Result<Vec<Envelope>, Error> {
    batch
        .into_iter()
        .map(|envelope| {
            if envelope.stream == ORDERS {
                to_sale(&envelope, currency)
                    .map_err(|e| e.context(format!("record `{}`", envelope.key)))
            } else {
                Ok(envelope)
            }
        })
        .collect()
}

/// The `sale-orders` record of one `orders` record.
fn to_sale(envelope: &Envelope, currency: Option<&str>) -> Result<Envelope, Error> {
    let source_time = envelope.source_time.as_deref();
    if envelope.op == Op::Delete {
        return Ok(Envelope::delete(SALE_ORDERS, &envelope.key, source_time));
    }
    let order: Order = envelope.json()?;
    let sale = sale_order(&order, currency).map_err(Error::permanent)?;
    Envelope::upsert(SALE_ORDERS, &envelope.key, &sale, source_time)
}

/// Maps an order to a sales order, or says why it cannot.
fn sale_order(order: &Order, currency: Option<&str>) -> Result<SaleOrder, String> {
    if let Some(expected) = currency
        && !order.currency.eq_ignore_ascii_case(expected)
    {
        return Err(format!(
            "currency `{}` is not the configured `{expected}`",
            order.currency
        ));
    }
    let status = match order.status.as_str() {
        "placed" | "paid" => "open",
        "cancelled" => "cancelled",
        other => return Err(format!("unknown order status `{other}`")),
    };
    let lines = order
        .lines
        .iter()
        .map(|line| {
            Ok(SaleLine {
                sku: line.sku.clone(),
                quantity: line.quantity,
                unit_price_cents: cents(&line.unit_price)
                    .map_err(|e| format!("line `{}`: {e}", line.sku))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let total_cents = lines.iter().try_fold(0_i64, |sum, line| {
        line.quantity
            .checked_mul(line.unit_price_cents)
            .and_then(|amount| sum.checked_add(amount))
            .ok_or_else(|| "the total overflows".to_owned())
    })?;
    let stated = cents(&order.total).map_err(|e| format!("total: {e}"))?;
    if stated != total_cents {
        return Err(format!(
            "total `{}` does not match the lines, which add up to {total_cents} cents",
            order.total
        ));
    }
    let customer = &order.customer;
    let customer_name = [customer.first_name.trim(), customer.last_name.trim()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(SaleOrder {
        external_ref: format!("shop:{}", order.id),
        customer_email: customer.email.clone(),
        customer_name,
        currency: order.currency.clone(),
        lines,
        total_cents,
        status,
    })
}

/// Parses a decimal amount (`"19.90"`, `"5"`, `"0.5"`, `"-3.10"`) into integer
/// cents, exactly. Anything else, including more than two decimals, is refused.
fn cents(amount: &str) -> Result<i64, String> {
    let invalid = || format!("`{amount}` is not an amount with at most two decimals");
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "00"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) || fraction.len() > 2 {
        return Err(invalid());
    }
    // "0.5" is 50 cents, not 5.
    let fraction = format!("{fraction:0<2}");
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let fraction: i64 = fraction.parse().map_err(|_| invalid())?;
    let cents = whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(fraction))
        .ok_or_else(invalid)?;
    Ok(if negative { -cents } else { cents })
}

export_transform!(OrderToSale);

#[cfg(test)]
mod tests {
    use super::{Customer, Order, OrderLine, cents, sale_order};

    fn order(total: &str, prices: &[&str]) -> Order {
        Order {
            id: "1001".to_owned(),
            status: "paid".to_owned(),
            currency: "EUR".to_owned(),
            customer: Customer {
                email: "ada@example.com".to_owned(),
                first_name: "Ada".to_owned(),
                last_name: "Lovelace".to_owned(),
            },
            lines: prices
                .iter()
                .map(|price| OrderLine {
                    sku: "TEE-BLK-M".to_owned(),
                    quantity: 2,
                    unit_price: (*price).to_owned(),
                })
                .collect(),
            total: total.to_owned(),
        }
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(cents("19.90"), Ok(1990));
        assert_eq!(cents("0.1"), Ok(10));
        assert_eq!(cents("5"), Ok(500));
        assert_eq!(cents("0.29"), Ok(29));
        assert_eq!(cents("-3.05"), Ok(-305));
    }

    #[test]
    fn amounts_with_more_than_two_decimals_or_garbage_are_refused() {
        for amount in [
            "19.999", "", ".5", "5.", "1e3", "1,00", " 1", "+1", "--1", "abc",
        ] {
            assert!(cents(amount).is_err(), "{amount:?} must be refused");
        }
    }

    #[test]
    fn an_order_maps_to_a_sales_order() {
        let sale = sale_order(&order("39.80", &["19.90"]), Some("eur")).unwrap();
        assert_eq!(sale.external_ref, "shop:1001");
        assert_eq!(sale.customer_name, "Ada Lovelace");
        assert_eq!(sale.lines[0].unit_price_cents, 1990);
        assert_eq!(sale.total_cents, 3980);
        assert_eq!(sale.status, "open");
    }

    #[test]
    fn a_total_that_does_not_match_the_lines_is_refused() {
        let error = sale_order(&order("39.81", &["19.90"]), None).unwrap_err();
        assert!(error.contains("does not match"), "{error}");
    }

    #[test]
    fn another_currency_than_the_configured_one_is_refused() {
        let error = sale_order(&order("39.80", &["19.90"]), Some("USD")).unwrap_err();
        assert!(error.contains("currency"), "{error}");
    }
}
