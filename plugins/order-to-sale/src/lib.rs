//! `order-to-sale`: turns storefront `orders` into ERP `sale-orders`.
//!
//! - **Reads** canonical `orders` records ([`canonical::Order`], what `demo-shop`
//!   and `commerce-vendure` read); records of any other stream pass through
//!   unchanged.
//! - **Writes** one canonical `sale-orders` record ([`canonical::SaleOrder`]) per
//!   order, with the same key and source time: `external_ref` = `<prefix><id>`
//!   (prefix `shop:` by default), the customer's first and last name joined,
//!   prices as integer minor units of the order's currency (parsed from the
//!   decimal strings exactly, never through floating point: two decimals for
//!   EUR, none for JPY), status `placed`/`paid` -> `open`, `cancelled` ->
//!   `cancelled`, `total_cents` recomputed from the lines and checked against
//!   the order's `total`, and the order's shipping address as `ship_to`.
//! - **Fails** the batch with a permanent error naming the record key when an order
//!   does not convert: a price with more decimals than its currency has or not a
//!   number, a total that does not match the lines, an unknown status, or a
//!   currency other than the configured one.
//! - **Config**: `currency` (optional, no default): when set, only orders in this
//!   currency are accepted; `reference_prefix` (default `shop:`): what goes
//!   before the order id in `external_ref`, so that the ERP and the 3PL can tell
//!   storefronts apart.
//! - **Secrets**, **egress**, **cursor**: none; a transform has no network and no state.

use tenon_sdk::canonical::{Order, SaleLine, SaleOrder};
use tenon_sdk::prelude::*;

/// The default `reference_prefix`.
pub const DEFAULT_PREFIX: &str = "shop:";

/// The order-to-sales-order transform.
struct OrderToSale;

impl Transform for OrderToSale {
    fn describe() -> Descriptor {
        Descriptor {
            name: "order-to-sale".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Transform,
            description: "Storefront orders to ERP sales orders, prices in integer minor units."
                .to_owned(),
            streams: vec![
                // Consumed: what a flow hands to the transform.
                canonical::writable(canonical::ORDERS, canonical::ORDERS),
                // Produced: what the transform hands on.
                canonical::readable(canonical::SALE_ORDERS, None, canonical::SALE_ORDERS),
            ],
            egress: Vec::new(),
            config: vec![
                ConfigKey::optional(
                    "currency",
                    "Only accept orders in this currency (like EUR); unset accepts any.",
                    None,
                ),
                ConfigKey::optional(
                    "reference_prefix",
                    "Put before the order id in `external_ref`.",
                    Some(DEFAULT_PREFIX),
                ),
            ],
            secrets: Vec::new(),
        }
    }

    fn transform(batch: Vec<Envelope>) -> Result<Vec<Envelope>, Error> {
        let prefix = config::get("reference_prefix").unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        map_batch(batch, config::get("currency").as_deref(), &prefix)
    }
}

/// The whole transform, without the host: `orders` records become `sale-orders`
/// records, others pass through. Public so that benchmarks can run the very same
/// code natively beside the component.
pub fn map_batch(
    batch: Vec<Envelope>,
    currency: Option<&str>,
    prefix: &str,
) -> Result<Vec<Envelope>, Error> {
    batch
        .into_iter()
        .map(|envelope| {
            if envelope.stream == canonical::ORDERS {
                to_sale(&envelope, currency, prefix)
                    .map_err(|e| e.context(format!("record `{}`", envelope.key)))
            } else {
                Ok(envelope)
            }
        })
        .collect()
}

/// The `sale-orders` record of one `orders` record.
fn to_sale(envelope: &Envelope, currency: Option<&str>, prefix: &str) -> Result<Envelope, Error> {
    let source_time = envelope.source_time.as_deref();
    if envelope.op == Op::Delete {
        return Ok(Envelope::delete(
            canonical::SALE_ORDERS,
            &envelope.key,
            source_time,
        ));
    }
    let order: Order = envelope.json()?;
    let sale = sale_order(&order, currency, prefix).map_err(Error::permanent)?;
    Envelope::upsert(canonical::SALE_ORDERS, &envelope.key, &sale, source_time)
}

/// Maps an order to a sales order, or says why it cannot.
fn sale_order(order: &Order, currency: Option<&str>, prefix: &str) -> Result<SaleOrder, String> {
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
    let exponent = money::exponent(&order.currency);
    let lines = order
        .lines
        .iter()
        .map(|line| {
            Ok(SaleLine {
                sku: line.sku.clone(),
                quantity: line.quantity,
                unit_price_cents: money::parse(&line.unit_price, exponent)
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
    let stated = money::parse(&order.total, exponent).map_err(|e| format!("total: {e}"))?;
    if stated != total_cents {
        return Err(format!(
            "total `{}` does not match the lines, which add up to {} {}",
            order.total,
            money::format(total_cents, exponent),
            order.currency
        ));
    }
    Ok(SaleOrder {
        external_ref: format!("{prefix}{}", order.id),
        customer_email: order.customer.email.clone(),
        customer_name: order.customer.full_name(),
        currency: order.currency.to_ascii_uppercase(),
        lines,
        total_cents,
        status: status.to_owned(),
        ship_to: order.shipping_address.clone(),
    })
}

export_transform!(OrderToSale);

#[cfg(test)]
mod tests {
    use super::{DEFAULT_PREFIX, sale_order};
    use tenon_sdk::canonical::{Address, Order, OrderCustomer, OrderLine};

    fn order(currency: &str, total: &str, prices: &[&str]) -> Order {
        Order {
            id: "1001".to_owned(),
            number: None,
            status: "paid".to_owned(),
            currency: currency.to_owned(),
            customer: OrderCustomer {
                email: "ada@example.com".to_owned(),
                first_name: "Ada".to_owned(),
                last_name: "Lovelace".to_owned(),
            },
            lines: prices
                .iter()
                .map(|price| OrderLine {
                    sku: "TEE-BLK-M".to_owned(),
                    name: String::new(),
                    quantity: 2,
                    unit_price: (*price).to_owned(),
                })
                .collect(),
            total: total.to_owned(),
            shipping_address: None,
            updated_at: "2026-11-23T10:00:00Z".to_owned(),
        }
    }

    #[test]
    fn an_order_maps_to_a_sales_order() {
        let sale = sale_order(
            &order("EUR", "39.80", &["19.90"]),
            Some("eur"),
            DEFAULT_PREFIX,
        )
        .unwrap();
        assert_eq!(sale.external_ref, "shop:1001");
        assert_eq!(sale.customer_name, "Ada Lovelace");
        assert_eq!(sale.lines[0].unit_price_cents, 1990);
        assert_eq!(sale.total_cents, 3980);
        assert_eq!(sale.status, "open");
        assert_eq!(sale.ship_to, None);
    }

    #[test]
    fn minor_units_follow_the_currency() {
        let yen = sale_order(&order("JPY", "3000", &["1500"]), None, "jp:").unwrap();
        assert_eq!(
            (yen.lines[0].unit_price_cents, yen.total_cents),
            (1500, 3000)
        );
        assert_eq!(yen.external_ref, "jp:1001");
        let error = sale_order(&order("JPY", "3001", &["1500.5"]), None, "jp:").unwrap_err();
        assert!(error.contains("not a whole amount"), "{error}");
        let error = sale_order(&order("EUR", "40", &["19.999"]), None, "").unwrap_err();
        assert!(error.contains("at most 2 decimals"), "{error}");
    }

    #[test]
    fn the_shipping_address_travels_as_ship_to() {
        let mut order = order("EUR", "39.80", &["19.90"]);
        let address = Address {
            name: "Ada Lovelace".into(),
            street: "12 St James's Square\nFlat 2".into(),
            city: "London".into(),
            postal_code: "SW1Y 4JH".into(),
            country: "GB".into(),
        };
        order.shipping_address = Some(address.clone());
        let sale = sale_order(&order, None, DEFAULT_PREFIX).unwrap();
        assert_eq!(sale.ship_to, Some(address));
    }

    #[test]
    fn a_total_that_does_not_match_the_lines_is_refused() {
        let error = sale_order(&order("EUR", "39.81", &["19.90"]), None, "").unwrap_err();
        assert!(
            error.contains("does not match") && error.contains("39.80 EUR"),
            "{error}"
        );
    }

    #[test]
    fn another_currency_than_the_configured_one_is_refused() {
        let error = sale_order(&order("EUR", "39.80", &["19.90"]), Some("USD"), "").unwrap_err();
        assert!(error.contains("currency"), "{error}");
    }
}
