//! The `credit-memos` stream: Vendure refunds, once settled, as canonical
//! [`CreditMemo`]s in minor units of the order's currency.
//!
//! Vendure has no list of refunds, and a refund changes neither its order's
//! nor its payment's `updatedAt` (measured on 3.7), so a changed-since filter
//! on orders cannot find them. A read therefore walks every placed order
//! (`active: false`, 100 per request, only the refunds' ids, states and times),
//! keeps the `Settled` refunds after the cursor, a [`Watermark`] over the
//! refund's `(updatedAt, id)` (settling changes `updatedAt`), and then reads the
//! orders of the page's refunds whole.
//!
//! A record: key = the refund id; `external_ref` = `vendure:refund:<id>`;
//! `order_ref` = config `order_ref_prefix` (default `shop:`, `order-to-sale`'s
//! default `reference_prefix`) + the order id; `currency` = the order's;
//! `lines` = the refund's lines by SKU, each at its order line's
//! `proratedUnitPriceWithTax` (what the customer paid per unit, as Vendure
//! prices refunded lines); `shipping_cents` = the refund's `shipping`;
//! `total_cents` = its `total`; `reason` its reason.
//!
//! A refund made from lines, shipping and an adjustment (Vendure's `items`,
//! `shipping`, `adjustment`) must add up: its lines must make `items` and
//! `items + shipping + adjustment` its `total`. A refund of an amount (Vendure
//! 2.2 and later: `items` 0) gets the part of its total that its lines and
//! shipping do not explain as `adjustment_cents` (negative when less was given
//! back than the lines are worth). A refund that does not add up, or whose
//! amounts are not whole minor units, is read as a record without amounts and
//! with `refused` saying why: it does not match the `credit-memos` schema, so
//! the host dead-letters it, alone, and the feed moves on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenon_sdk::canonical::{CreditLine, CreditMemo};
use tenon_sdk::prelude::*;

use crate::{CREDIT_MEMOS, feed, graphql, money};

/// Before the order id in `order_ref`, unless configured: `order-to-sale`'s
/// default `reference_prefix`, so that the memo names the sale order booked.
pub const DEFAULT_ORDER_REF_PREFIX: &str = "shop:";

/// Orders walked per Admin API request.
const FETCH: usize = 100;

#[derive(Deserialize)]
struct Scanned {
    id: String,
    payments: Option<Vec<ScannedPayment>>,
}

#[derive(Deserialize)]
struct ScannedPayment {
    refunds: Vec<ScannedRefund>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScannedRefund {
    id: String,
    state: String,
    updated_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    id: String,
    currency_code: String,
    lines: Vec<OrderLine>,
    payments: Option<Vec<Payment>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderLine {
    id: String,
    prorated_unit_price_with_tax: i64,
    product_variant: Sku,
}

#[derive(Debug, Deserialize)]
struct Sku {
    sku: String,
}

#[derive(Debug, Deserialize)]
struct Payment {
    refunds: Vec<Refund>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Refund {
    id: String,
    items: i64,
    shipping: i64,
    adjustment: i64,
    total: i64,
    reason: Option<String>,
    lines: Vec<RefundLine>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundLine {
    order_line_id: String,
    quantity: i64,
}

/// What a refund that does not make a credit memo is read as.
#[derive(Debug, Serialize)]
struct Refused {
    external_ref: String,
    order_ref: String,
    currency: String,
    refused: String,
}

/// One page of settled refunds after `cursor`.
pub fn read(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let limit = limit.clamp(1, feed::MAX_PAGE) as usize;
    let prefix =
        config::get("order_ref_prefix").unwrap_or_else(|| DEFAULT_ORDER_REF_PREFIX.to_owned());
    let mut mark = Watermark::from_cursor(cursor);

    // (updatedAt, padded refund id, order id) of every settled refund after
    // the cursor.
    let mut fresh: Vec<(String, String, String)> = Vec::new();
    let mut skip = 0;
    let mut scanned = 0;
    loop {
        let mut data: Value = graphql::query(
            "query Refunds($options: OrderListOptions) { orders(options: $options) { items { id payments { refunds { id state updatedAt } } } } }",
            json!({"options": {"filter": {"active": {"eq": false}}, "sort": {"id": "ASC"}, "skip": skip, "take": FETCH}}),
        )?;
        let orders = Vec::<Scanned>::deserialize(data["orders"]["items"].take()).map_err(|e| {
            Error::permanent(format!("Vendure's `orders` have an unexpected shape: {e}"))
        })?;
        let fetched = orders.len();
        for order in orders {
            for refund in order.payments.into_iter().flatten().flat_map(|p| p.refunds) {
                let key = feed::padded(&refund.id);
                if refund.state == "Settled" && mark.is_new(&refund.updated_at, &key) {
                    fresh.push((refund.updated_at, key, order.id.clone()));
                }
            }
        }
        scanned += fetched;
        skip += fetched;
        if fetched < FETCH {
            break;
        }
    }
    fresh.sort();
    let more = fresh.len() > limit;
    fresh.truncate(limit);

    let mut orders: BTreeMap<String, Order> = BTreeMap::new();
    let mut records = Vec::with_capacity(fresh.len());
    for (time, key, order_id) in &fresh {
        if !orders.contains_key(order_id) {
            orders.insert(order_id.clone(), order(order_id)?);
        }
        let order = &orders[order_id];
        let refund = order
            .payments
            .iter()
            .flatten()
            .flat_map(|p| &p.refunds)
            .find(|r| feed::padded(&r.id) == *key)
            .ok_or_else(|| {
                Error::retryable(format!(
                    "refund {key} of order `{order_id}` went away while being read"
                ))
            })?;
        mark.advance(time, key);
        let envelope = match credit_memo(order, refund, &prefix) {
            Ok(memo) => Envelope::upsert(CREDIT_MEMOS, &refund.id, &memo, Some(time))?,
            Err(why) => {
                log::warn(format!(
                    "refund={} order={order_id} Read a Vendure refund that is no credit memo: {why}",
                    refund.id
                ));
                let refused = Refused {
                    external_ref: external_ref(&refund.id),
                    order_ref: format!("{prefix}{}", order.id),
                    currency: order.currency_code.clone(),
                    refused: why,
                };
                Envelope::upsert(CREDIT_MEMOS, &refund.id, &refused, Some(time))?
            }
        };
        records.push(envelope);
    }
    log::info(format!(
        "count={} more={more} orders_scanned={scanned} cursor={mark} Read Vendure refunds.",
        records.len()
    ));
    Ok(feed::page(records, &mark, more))
}

fn external_ref(refund: &str) -> String {
    format!("vendure:refund:{refund}")
}

fn order(id: &str) -> Result<Order, Error> {
    #[derive(Deserialize)]
    struct Data {
        order: Option<Order>,
    }
    let data: Data = graphql::query(
        "query Order($id: ID!) { order(id: $id) { id currencyCode lines { id proratedUnitPriceWithTax productVariant { sku } } payments { refunds { id items shipping adjustment total reason lines { orderLineId quantity } } } } }",
        json!({ "id": id }),
    )?;
    data.order.ok_or_else(|| {
        Error::retryable(format!(
            "order `{id}` went away while its refunds were read"
        ))
    })
}

/// The credit memo of `refund` of `order`, or why it makes none.
fn credit_memo(order: &Order, refund: &Refund, prefix: &str) -> Result<CreditMemo, String> {
    let currency = &order.currency_code;
    let cents = |hundredths: i64| money::minor_units(hundredths, currency);
    let mut lines = Vec::new();
    let mut lines_value = 0_i64;
    for line in refund.lines.iter().filter(|l| l.quantity > 0) {
        let ordered = order
            .lines
            .iter()
            .find(|l| l.id == line.order_line_id)
            .ok_or_else(|| format!("its line {} is not on the order", line.order_line_id))?;
        let value = line
            .quantity
            .checked_mul(ordered.prorated_unit_price_with_tax)
            .ok_or("a line's value is too large")?;
        lines_value += value;
        lines.push(CreditLine {
            sku: ordered.product_variant.sku.clone(),
            quantity: line.quantity,
            unit_price_cents: cents(ordered.prorated_unit_price_with_tax)?,
            total_cents: cents(value)?,
        });
    }
    let figure = |hundredths: i64| money::decimal(hundredths, currency);
    let adjustment = if refund.items == 0 {
        // A refund of an amount: what the lines and shipping do not explain.
        let rest = refund.total - lines_value - refund.shipping;
        if refund.adjustment != 0 && refund.adjustment != rest {
            return Err(format!(
                "its lines make {} and shipping {}, which leaves {} of its total {}, but its adjustment is {}",
                figure(lines_value),
                figure(refund.shipping),
                figure(rest),
                figure(refund.total),
                figure(refund.adjustment)
            ));
        }
        rest
    } else {
        if refund.items != lines_value {
            return Err(format!(
                "its lines make {} at the order's prices but Vendure refunded {} for them",
                figure(lines_value),
                figure(refund.items)
            ));
        }
        let sum = refund.items + refund.shipping + refund.adjustment;
        if sum != refund.total {
            return Err(format!(
                "its items {}, shipping {} and adjustment {} make {} but its total is {}",
                figure(refund.items),
                figure(refund.shipping),
                figure(refund.adjustment),
                figure(sum),
                figure(refund.total)
            ));
        }
        refund.adjustment
    };
    let memo = CreditMemo {
        external_ref: external_ref(&refund.id),
        order_ref: format!("{prefix}{}", order.id),
        currency: currency.clone(),
        lines,
        shipping_cents: cents(refund.shipping)?,
        adjustment_cents: cents(adjustment)?,
        total_cents: cents(refund.total)?,
        reason: refund.reason.clone().filter(|r| !r.is_empty()),
    };
    // Each part is exact, so the minor units add up as the hundredths did.
    debug_assert_eq!(memo.sum_cents(), memo.total_cents);
    Ok(memo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(currency: &str) -> Order {
        let line = |id: &str, sku: &str, price: i64| OrderLine {
            id: id.into(),
            prorated_unit_price_with_tax: price,
            product_variant: Sku { sku: sku.into() },
        };
        Order {
            id: "12".into(),
            currency_code: currency.into(),
            lines: vec![line("1", "TEE", 1990), line("2", "MUG", 1250)],
            payments: None,
        }
    }

    fn refund(
        lines: &[(&str, i64)],
        items: i64,
        shipping: i64,
        adjustment: i64,
        total: i64,
    ) -> Refund {
        Refund {
            id: "7".into(),
            items,
            shipping,
            adjustment,
            total,
            reason: Some("damaged".into()),
            lines: lines
                .iter()
                .map(|(id, quantity)| RefundLine {
                    order_line_id: (*id).into(),
                    quantity: *quantity,
                })
                .collect(),
        }
    }

    #[test]
    fn a_refund_of_a_line_and_shipping_is_a_credit_memo_in_cents() {
        let memo = credit_memo(
            &order("USD"),
            &refund(&[("1", 1)], 1990, 490, 0, 2480),
            "shop:",
        )
        .unwrap();
        assert_eq!(
            memo,
            CreditMemo {
                external_ref: "vendure:refund:7".into(),
                order_ref: "shop:12".into(),
                currency: "USD".into(),
                lines: vec![CreditLine {
                    sku: "TEE".into(),
                    quantity: 1,
                    unit_price_cents: 1990,
                    total_cents: 1990,
                }],
                shipping_cents: 490,
                adjustment_cents: 0,
                total_cents: 2480,
                reason: Some("damaged".into()),
            }
        );
        let fee = credit_memo(&order("USD"), &refund(&[("2", 1)], 1250, 0, -50, 1200), "").unwrap();
        assert_eq!(
            (
                fee.adjustment_cents,
                fee.total_cents,
                fee.order_ref.as_str()
            ),
            (-50, 1200, "12")
        );
    }

    #[test]
    fn an_amount_refund_keeps_what_its_lines_do_not_explain_as_adjustment() {
        let goodwill = credit_memo(&order("USD"), &refund(&[], 0, 0, 0, 300), "shop:").unwrap();
        assert_eq!(
            (
                goodwill.lines.len(),
                goodwill.adjustment_cents,
                goodwill.total_cents
            ),
            (0, 300, 300)
        );
        let partial =
            credit_memo(&order("USD"), &refund(&[("1", 2)], 0, 0, 0, 3500), "shop:").unwrap();
        assert_eq!(partial.lines[0].total_cents, 3980);
        assert_eq!(partial.adjustment_cents, -480);
        assert_eq!(partial.sum_cents(), partial.total_cents);
    }

    #[test]
    fn refunds_that_do_not_add_up_are_refused_with_their_figures() {
        let off =
            credit_memo(&order("USD"), &refund(&[("1", 1)], 1990, 0, 0, 2000), "").unwrap_err();
        assert!(off.contains("make 19.90 but its total is 20.00"), "{off}");
        let repriced =
            credit_memo(&order("USD"), &refund(&[("1", 1)], 1800, 0, 0, 1800), "").unwrap_err();
        assert!(
            repriced.contains("19.90") && repriced.contains("18.00"),
            "{repriced}"
        );
        let stranger =
            credit_memo(&order("USD"), &refund(&[("9", 1)], 1990, 0, 0, 1990), "").unwrap_err();
        assert!(stranger.contains("line 9"), "{stranger}");
        let odd = credit_memo(&order("USD"), &refund(&[], 0, 0, 100, 300), "").unwrap_err();
        assert!(odd.contains("adjustment is 1.00"), "{odd}");
    }

    #[test]
    fn yen_refunds_are_whole_yen() {
        let mut yen = order("JPY");
        yen.lines[0].prorated_unit_price_with_tax = 150_000;
        let memo = credit_memo(&yen, &refund(&[("1", 1)], 150_000, 0, 0, 150_000), "").unwrap();
        assert_eq!(
            (memo.lines[0].unit_price_cents, memo.total_cents),
            (1500, 1500)
        );
        let fraction = credit_memo(&yen, &refund(&[], 0, 0, 0, 150_050), "").unwrap_err();
        assert!(fraction.contains("JPY"), "{fraction}");
    }
}
