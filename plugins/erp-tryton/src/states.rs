//! Changed-since reads of `order-states`: what Tryton says of the storefront
//! orders it sells, as canonical [`OrderState`]s keyed by the order id.
//!
//! The sales read are those whose `reference` starts with `order_ref_prefix`
//! (all sales with a reference when it is unset); the order id is the
//! reference without the prefix. The state, first rule that holds:
//!
//! | Tryton sale | `state` | `note` |
//! |---|---|---|
//! | `state` cancelled | `cancelled` | |
//! | `shipment_state` or `invoice_state` exception | `on_hold` | which one, "in Tryton" |
//! | `shipment_state` sent | `shipped` | |
//! | `invoice_state` awaiting payment, partially paid or paid | `invoiced` | |
//! | `state` confirmed, processing or done | `released` | |
//! | `state` draft or quotation | `on_hold` | "awaiting confirmation in Tryton", or "credit limit exceeded" when the party's receivable plus the sale exceeds its credit limit |
//!
//! A sale's position is the newest of its dates: shipments and invoices
//! changing its states write the sale. Reads only.

use serde_json::{Value, json};
use tenon_sdk::canonical::OrderState;
use tenon_sdk::prelude::*;

use crate::read::{Fresh, changed_domain, newest, page};
use crate::rpc::Tryton;
use crate::settings::Settings;
use crate::value;

const DATES: [&str; 2] = ["create_date", "write_date"];

/// The canonical state of a sale in `state`, `invoice_state` and
/// `shipment_state`; `over_credit` when confirming it would exceed the
/// party's credit limit.
pub fn order_state(
    state: &str,
    invoice_state: &str,
    shipment_state: &str,
    over_credit: bool,
) -> (&'static str, Option<&'static str>) {
    match (state, invoice_state, shipment_state) {
        ("cancelled", _, _) => ("cancelled", None),
        (_, _, "exception") => ("on_hold", Some("shipment exception in Tryton")),
        (_, "exception", _) => ("on_hold", Some("invoice exception in Tryton")),
        (_, _, "sent") => ("shipped", None),
        (_, "awaiting payment" | "partially paid" | "paid", _) => ("invoiced", None),
        ("confirmed" | "processing" | "done", _, _) => ("released", None),
        _ if over_credit => ("on_hold", Some("credit limit exceeded")),
        _ => ("on_hold", Some("awaiting confirmation in Tryton")),
    }
}

/// `prefix` as a `like` pattern that matches the text literally, then anything.
pub fn starts_with_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// One page of `order-states` after `cursor`.
pub fn changed_since(
    tryton: &Tryton,
    settings: &Settings,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page, Error> {
    let mark = Watermark::from_cursor(cursor);
    let prefix = settings.prefix();
    let credit = tryton
        .has_fields("party.party", &["credit_limit_amount"])?
        .len()
        == 1;
    let mut domain = vec![
        json!(["reference", "!=", null]),
        json!(["reference", "like", starts_with_pattern(prefix)]),
    ];
    let changed = changed_domain(&mark, &DATES)?;
    if changed.as_array().is_some_and(|parts| !parts.is_empty()) {
        domain.push(changed);
    }
    let mut fields = vec![
        "reference",
        "state",
        "invoice_state",
        "shipment_state",
        "untaxed_amount",
        "create_date",
        "write_date",
    ];
    if credit {
        fields.extend(["party.credit_amount", "party.credit_limit_amount"]);
    }
    let rows = tryton.search_read(
        "sale.sale",
        Value::Array(domain),
        None,
        json!([["id", "ASC"]]),
        &fields,
    )?;
    let mut fresh = Vec::new();
    for row in &rows {
        let Some(order_id) = row["reference"]
            .as_str()
            .and_then(|reference| reference.strip_prefix(prefix))
            .filter(|id| !id.is_empty())
        else {
            continue;
        };
        let Some(time) = row.as_object().and_then(|row| newest(row, &DATES)) else {
            continue;
        };
        if !mark.is_new(&time, order_id) {
            continue;
        }
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let over_credit = over_credit(&row["party."], &row["untaxed_amount"]);
        let (state, note) = order_state(
            &text(&row["state"]),
            &text(&row["invoice_state"]),
            &text(&row["shipment_state"]),
            over_credit,
        );
        let order = OrderState {
            order_id: order_id.to_owned(),
            state: state.to_owned(),
            note: note.map(str::to_owned),
        };
        fresh.push(Fresh::keyed(time, order_id.to_owned(), order));
    }
    page(crate::ORDER_STATES, mark, fresh, limit, "order states")
}

/// Whether the party's receivable plus `amount` exceeds its credit limit
/// (Tryton's check at confirmation); false without a limit.
fn over_credit(party: &Value, amount: &Value) -> bool {
    let cents = |value: &Value| value::minor_from_decimal(value, "XXX");
    match (
        cents(&party["credit_limit_amount"]),
        cents(&party["credit_amount"]),
        cents(amount),
    ) {
        (Some(limit), Some(credit), Some(amount)) => credit + amount > limit,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sale_states_map_to_order_states() {
        let state = |s, i, h| order_state(s, i, h, false);
        assert_eq!(state("cancelled", "none", "none"), ("cancelled", None));
        assert_eq!(state("draft", "none", "none").0, "on_hold");
        assert_eq!(
            state("quotation", "none", "none").1,
            Some("awaiting confirmation in Tryton")
        );
        assert_eq!(state("confirmed", "none", "none"), ("released", None));
        assert_eq!(
            state("processing", "pending", "waiting"),
            ("released", None)
        );
        assert_eq!(
            state("processing", "awaiting payment", "waiting").0,
            "invoiced"
        );
        assert_eq!(
            state("processing", "paid", "partially shipped").0,
            "invoiced"
        );
        assert_eq!(state("processing", "awaiting payment", "sent").0, "shipped");
        assert_eq!(state("done", "paid", "sent").0, "shipped");
        assert_eq!(
            state("processing", "awaiting payment", "exception"),
            ("on_hold", Some("shipment exception in Tryton"))
        );
        assert_eq!(state("processing", "exception", "sent").0, "on_hold");
        assert_eq!(
            order_state("quotation", "none", "none", true),
            ("on_hold", Some("credit limit exceeded"))
        );
        // A confirmed sale is released whatever the credit says now.
        assert_eq!(
            order_state("processing", "pending", "waiting", true).0,
            "released"
        );
    }

    #[test]
    fn the_prefix_is_matched_literally() {
        assert_eq!(starts_with_pattern("magento:"), "magento:%");
        assert_eq!(starts_with_pattern("shop_1%"), "shop\\_1\\%%");
        assert_eq!(starts_with_pattern(""), "%");
    }

    #[test]
    fn credit_is_exceeded_above_the_limit_only() {
        let party = |limit: Value, credit: &str| json!({"credit_limit_amount": limit, "credit_amount": {"__class__": "Decimal", "decimal": credit}});
        let d = |text: &str| json!({"__class__": "Decimal", "decimal": text});
        assert!(over_credit(&party(d("100.00"), "80"), &d("20.01")));
        assert!(!over_credit(&party(d("100.00"), "80"), &d("20.00")));
        assert!(!over_credit(&party(Value::Null, "80"), &d("1000")));
        assert!(!over_credit(&Value::Null, &d("1000")));
    }
}
