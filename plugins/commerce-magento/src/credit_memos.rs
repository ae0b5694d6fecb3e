//! The `credit-memos` stream: Magento credit memos (refunds) changed since the
//! cursor (`GET /V1/creditmemos`), as canonical [`CreditMemo`]s in minor
//! units of the order's currency.
//!
//! - `external_ref` = `magento:creditmemo:<entity_id>`; `order_ref` =
//!   `<order_ref_prefix><order_id>` (config, default `magento:`): the
//!   `external_ref` that `order-to-sale` (with the same `reference_prefix`)
//!   gave the refunded order, so the ERP finds the sale;
//! - `lines`: the items with a quantity above 0, each `sku`, `qty`,
//!   `price_incl_tax` and `row_total_incl_tax`; the row Magento adds under a
//!   configurable line (same SKU, no amount) is left out;
//! - `shipping_cents` = `shipping_incl_tax` (else `shipping_amount`);
//!   `adjustment_cents` = `adjustment_positive` - `adjustment_negative`;
//!   `total_cents` = `grand_total`; `reason` = the first comment, if any.
//!
//! A memo whose lines, shipping and adjustment do not add up to its grand
//! total (a discount refunded, which the canonical memo has no place for) is
//! refused with the figures, never booked wrong. A read cannot refuse one
//! record alone, so the refusal stops the stream at that memo and says how to
//! read past it.

use serde::Deserialize;
use serde_json::Value;
use tenon_sdk::canonical::{CreditLine, CreditMemo};
use tenon_sdk::prelude::*;

use crate::rest::Magento;
use crate::{CREDIT_MEMOS, feed, money, orders};

/// A credit memo as `GET /V1/creditmemos` lists it.
#[derive(Debug, Deserialize)]
struct MagentoCreditMemo {
    entity_id: u64,
    order_id: u64,
    #[serde(default)]
    order_currency_code: String,
    #[serde(default)]
    items: Vec<MemoItem>,
    #[serde(default)]
    shipping_incl_tax: Value,
    #[serde(default)]
    shipping_amount: Value,
    #[serde(default)]
    adjustment_positive: Value,
    #[serde(default)]
    adjustment_negative: Value,
    #[serde(default)]
    discount_amount: Value,
    #[serde(default)]
    grand_total: Value,
    #[serde(default)]
    comments: Vec<Comment>,
    updated_at: String,
}

#[derive(Debug, Deserialize)]
struct MemoItem {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    qty: Value,
    #[serde(default)]
    price_incl_tax: Value,
    #[serde(default)]
    row_total_incl_tax: Value,
}

#[derive(Debug, Deserialize)]
struct Comment {
    #[serde(default)]
    comment: Option<String>,
}

impl feed::Changed for MagentoCreditMemo {
    fn updated_at(&self) -> &str {
        &self.updated_at
    }
    fn entity_id(&self) -> u64 {
        self.entity_id
    }
}

/// One page of credit memos after `cursor`.
pub fn read(api: &Magento, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let prefix = &api.settings.order_ref_prefix;
    let changes = feed::changed_since::<MagentoCreditMemo>(api, "/creditmemos", cursor, limit)?;
    let mut records = Vec::with_capacity(changes.records.len());
    for held in changes.records {
        let key = held.record.entity_id.to_string();
        let memo = credit_memo(&held.record, prefix)
            .map_err(|e| Error::permanent(feed::refusal(&e, &held.time, &held.key)))?;
        records.push(Envelope::upsert(
            CREDIT_MEMOS,
            &key,
            &memo,
            Some(&held.time),
        )?);
    }
    log::info(format!(
        "count={} more={} cursor={} Read Magento credit memos.",
        records.len(),
        changes.more,
        changes.mark
    ));
    Ok(feed::page(records, &changes.mark, changes.more))
}

/// The canonical credit memo of a Magento one, or why it cannot be one.
fn credit_memo(m: &MagentoCreditMemo, prefix: &str) -> Result<CreditMemo, String> {
    let id = m.entity_id;
    let currency = m.order_currency_code.as_str();
    if currency.is_empty() {
        return Err(format!("credit memo {id} has no `order_currency_code`"));
    }
    let cents = |value: &Value, field: &str| {
        money::minor_or_zero(value, currency).map_err(|e| format!("credit memo {id}: {field} {e}"))
    };
    let mut lines = Vec::new();
    for item in &m.items {
        let quantity = money::whole(&item.qty).ok_or_else(|| {
            format!(
                "credit memo {id}: sku `{}` has quantity `{}`, not a whole number",
                item.sku, item.qty
            )
        })?;
        if quantity > 0 {
            lines.push(CreditLine {
                sku: item.sku.clone(),
                quantity,
                unit_price_cents: cents(&item.price_incl_tax, "price_incl_tax")?,
                total_cents: cents(&item.row_total_incl_tax, "row_total_incl_tax")?,
            });
        }
    }
    let lines = orders::without_child_rows(
        lines,
        |l| &l.sku,
        |l| l.unit_price_cents != 0 || l.total_cents != 0,
    );
    let shipping = if m.shipping_incl_tax.is_null() {
        &m.shipping_amount
    } else {
        &m.shipping_incl_tax
    };
    let memo = CreditMemo {
        external_ref: format!("magento:creditmemo:{id}"),
        order_ref: format!("{prefix}{}", m.order_id),
        currency: currency.to_owned(),
        lines,
        shipping_cents: cents(shipping, "shipping_incl_tax")?,
        adjustment_cents: cents(&m.adjustment_positive, "adjustment_positive")?
            - cents(&m.adjustment_negative, "adjustment_negative")?,
        total_cents: cents(&m.grand_total, "grand_total")?,
        reason: m
            .comments
            .iter()
            .find_map(|c| {
                c.comment
                    .as_deref()
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
            })
            .map(str::to_owned),
    };
    if memo.sum_cents() != memo.total_cents {
        let figure = |cents: i64| money::decimal(cents, currency);
        let lines: i64 = memo.lines.iter().map(|l| l.total_cents).sum();
        let discount = cents(&m.discount_amount, "discount_amount")?;
        return Err(format!(
            "credit memo {id} (order {}): its lines ({}), shipping ({}) and adjustment ({}) make {} {currency} but its grand_total is {}{}",
            m.order_id,
            figure(lines),
            figure(memo.shipping_cents),
            figure(memo.adjustment_cents),
            figure(memo.sum_cents()),
            figure(memo.total_cents),
            if discount == 0 {
                String::new()
            } else {
                format!(
                    "; it refunds a discount of {}, which a canonical credit memo has no place for",
                    figure(discount)
                )
            }
        ));
    }
    Ok(memo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A credit memo as Magento 2.4 lists it: two tees of a configurable line
    /// (and its child row), shipping, a 1.00 fee kept, amounts as floats.
    fn magento_memo() -> Value {
        json!({
            "entity_id": 7, "order_id": 1042, "increment_id": "000000007",
            "order_currency_code": "EUR", "base_currency_code": "EUR",
            "created_at": "2026-11-24 08:00:00", "updated_at": "2026-11-24 08:00:00",
            "items": [
                {"entity_id": 11, "order_item_id": 1, "sku": "TEE-M", "qty": 2,
                 "price": 16.72, "price_incl_tax": 19.9, "row_total": 33.44, "row_total_incl_tax": 39.8},
                {"entity_id": 12, "order_item_id": 2, "sku": "TEE-M", "qty": 2,
                 "price": 0, "price_incl_tax": 0, "row_total": 0, "row_total_incl_tax": 0},
                {"entity_id": 13, "order_item_id": 3, "sku": "MUG", "qty": 0,
                 "price_incl_tax": 10.3, "row_total_incl_tax": 0}
            ],
            "subtotal_incl_tax": 39.8, "shipping_amount": 4.12, "shipping_incl_tax": 4.9,
            "adjustment_positive": 0, "adjustment_negative": 1,
            "discount_amount": 0,
            "grand_total": 0.1 + 0.2 + 43.4,
            "comments": [{"comment": "Too small", "created_at": "2026-11-24 08:00:00"}]
        })
    }

    fn mapped(memo: Value) -> Result<CreditMemo, String> {
        credit_memo(&serde_json::from_value(memo).unwrap(), "magento:")
    }

    #[test]
    fn a_magento_credit_memo_becomes_a_canonical_one_in_minor_units() {
        let memo = mapped(magento_memo()).unwrap();
        assert_eq!(memo.external_ref, "magento:creditmemo:7");
        assert_eq!(
            memo.order_ref, "magento:1042",
            "order-to-sale's external_ref of the order"
        );
        assert_eq!(
            memo.lines,
            [CreditLine {
                sku: "TEE-M".into(),
                quantity: 2,
                unit_price_cents: 1990,
                total_cents: 3980
            }],
            "the configurable's child row and the unrefunded mug are left out"
        );
        assert_eq!(memo.shipping_cents, 490, "with tax");
        assert_eq!(memo.adjustment_cents, -100);
        assert_eq!(memo.total_cents, 4370);
        assert_eq!(memo.reason.as_deref(), Some("Too small"));
    }

    #[test]
    fn shipping_without_tax_is_taken_when_magento_has_no_shipping_incl_tax() {
        let mut memo = magento_memo();
        memo["shipping_incl_tax"] = Value::Null;
        memo["grand_total"] = json!(42.92);
        memo["comments"] = json!([]);
        let memo = mapped(memo).unwrap();
        assert_eq!(memo.shipping_cents, 412);
        assert_eq!(memo.reason, None);
    }

    #[test]
    fn a_memo_that_does_not_add_up_is_refused_with_its_figures() {
        let mut memo = magento_memo();
        memo["discount_amount"] = json!(-5);
        memo["grand_total"] = json!(38.7);
        let refused = mapped(memo).unwrap_err();
        assert!(
            refused.contains("lines (39.80), shipping (4.90) and adjustment (-1.00) make 43.70 EUR but its grand_total is 38.70"),
            "{refused}"
        );
        assert!(refused.contains("a discount of -5.00"), "{refused}");
        assert!(refused.contains("credit memo 7 (order 1042)"), "{refused}");
    }
}
