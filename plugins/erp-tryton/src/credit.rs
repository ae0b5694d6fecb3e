//! Writes of `credit-memos` (canonical [`CreditMemo`]s) as Tryton credit
//! notes, and their reconciliation.
//!
//! A credit note is what Tryton's own "Credit" wizard makes: a customer
//! (`out`) invoice whose lines have negative quantities, each line's `origin`
//! the invoice line it credits; unlike the wizard, it credits part of an
//! invoice. For each memo:
//!
//! 1. **Which credit note**: the customer invoice whose `reference` is the
//!    memo's `external_ref`. A posted (or paid) one that equals the memo
//!    (rebuilt by [`rebuild`]) is the outcome, nothing is booked again; one
//!    that differs is a permanent error (correct it in Tryton); a cancelled
//!    one is a permanent error too (someone cancelled it: not booked again).
//!    A draft or validated one (an attempt that stopped before posting) is
//!    posted if it equals the memo, else deleted and booked anew.
//! 2. **The sale**: the `sale.sale` whose reference is `order_ref`; none yet
//!    is retryable (the sale may come later), a sale in another currency is
//!    permanent. Its posted customer invoices are what is credited; none yet
//!    is retryable ("no posted invoice yet").
//! 3. **Lines**: each refunded line credits its quantity of the SKU at the
//!    memo's unit price, on the account (and taxes) of the invoice line of
//!    that product, which becomes its origin; a SKU not invoiced, or more
//!    units than were invoiced and not credited yet, is permanent. A line
//!    whose `total_cents` is not quantity × unit price is permanent (put the
//!    difference in `adjustment_cents`). Shipping (`Shipping`) and the
//!    adjustment (`Adjustment`, negative for fees kept) are lines of one unit
//!    without product on the account `refund_account`.
//! 4. **Booked**: the credit note (party, addresses, receivable account,
//!    journal and payment term of the invoice, `description` `Refund of
//!    <order_ref>`, `comment` the reason) is created, its total checked to
//!    be exactly minus the memo's total (else it is deleted: permanent, taxes
//!    on the lines, say), then posted. The outcome is its id.
//!
//! A memo with no lines, no shipping and no adjustment books nothing (`None`).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tenon_sdk::canonical::{CreditLine, CreditMemo};
use tenon_sdk::prelude::*;

use crate::rpc::Tryton;
use crate::settings::Settings;
use crate::value;

/// What the description of a credit note starts with, before the order's reference.
pub const DESCRIPTION: &str = "Refund of ";
/// The description of a shipping line.
pub const SHIPPING: &str = "Shipping";
/// The description of an adjustment line.
pub const ADJUSTMENT: &str = "Adjustment";

/// The fields of a credit note [`rebuild`] reads.
const NOTE_FIELDS: [&str; 6] = [
    "reference",
    "description",
    "comment",
    "state",
    "number",
    "total_amount",
];

/// The fields of a credit note's lines [`rebuild`] reads.
const LINE_FIELDS: [&str; 7] = [
    "invoice",
    "sequence",
    "product.code",
    "description",
    "quantity",
    "unit_price",
    "amount",
];

/// Checks what the memo itself must satisfy.
pub fn check(memo: &CreditMemo) -> Result<(), Error> {
    if memo.external_ref.is_empty() || memo.order_ref.is_empty() {
        return Err(Error::permanent(
            "`external_ref` and `order_ref` are required",
        ));
    }
    if memo.sum_cents() != memo.total_cents {
        return Err(Error::permanent(format!(
            "`total_cents` {} is not the lines, shipping and adjustment added up ({})",
            memo.total_cents,
            memo.sum_cents()
        )));
    }
    for line in &memo.lines {
        if line.quantity < 1 {
            return Err(Error::permanent(format!(
                "line `{}`: quantity {} is not 1 or more",
                line.sku, line.quantity
            )));
        }
        if line.quantity.checked_mul(line.unit_price_cents) != Some(line.total_cents) {
            return Err(Error::permanent(format!(
                "line `{}`: total_cents {} is not {} × {}: put the difference in \
                 `adjustment_cents`",
                line.sku, line.total_cents, line.quantity, line.unit_price_cents
            )));
        }
    }
    Ok(())
}

/// The canonical memo a credit note holds: `note` read with [`NOTE_FIELDS`]
/// and `currency.code`, `lines` its lines read with [`LINE_FIELDS`] (any order).
pub fn rebuild(note: &Value, lines: &[Value]) -> Result<CreditMemo, String> {
    let currency = text(&note["currency."]["code"]);
    let minor = |value: &Value, what: &str| {
        value::minor_from_decimal(value, &currency)
            .ok_or_else(|| format!("credit note {}: {what} is no amount", note["id"]))
    };
    let mut ordered: Vec<&Value> = lines.iter().collect();
    ordered.sort_by_key(|line| {
        (
            line["sequence"].as_i64().is_some(),
            line["sequence"].as_i64(),
            line["id"].as_i64(),
        )
    });
    let mut memo = CreditMemo {
        external_ref: text(&note["reference"]),
        order_ref: text(&note["description"])
            .strip_prefix(DESCRIPTION)
            .unwrap_or_default()
            .to_owned(),
        currency: currency.clone(),
        lines: Vec::new(),
        shipping_cents: 0,
        adjustment_cents: 0,
        total_cents: -minor(&note["total_amount"], "the total")?,
        reason: note["comment"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
    };
    for line in ordered {
        let amount = -minor(&line["amount"], "a line's amount")?;
        match line["product."]["code"].as_str() {
            Some(sku) => memo.lines.push(CreditLine {
                sku: sku.to_owned(),
                quantity: -(line["quantity"].as_f64().unwrap_or(0.0).round() as i64),
                unit_price_cents: minor(&line["unit_price"], "a unit price")?,
                total_cents: amount,
            }),
            None if line["description"].as_str() == Some(SHIPPING) => {
                memo.shipping_cents += amount;
            }
            None => memo.adjustment_cents += amount,
        }
    }
    Ok(memo)
}

/// A credit note with its state and canonical memo.
struct Held {
    id: i64,
    state: String,
    number: Option<String>,
    memo: CreditMemo,
}

/// The credit notes `ids`, rebuilt.
fn load(tryton: &Tryton, ids: &[i64]) -> Result<Vec<Held>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut fields = NOTE_FIELDS.to_vec();
    fields.push("currency.code");
    let notes = tryton.read("account.invoice", ids, &fields)?;
    let lines = tryton.search_read(
        "account.invoice.line",
        json!([["invoice", "in", ids]]),
        None,
        json!([["id", "ASC"]]),
        &LINE_FIELDS,
    )?;
    let mut held = Vec::with_capacity(notes.len());
    for note in &notes {
        let id = note["id"].as_i64().unwrap_or_default();
        let own: Vec<Value> = lines
            .iter()
            .filter(|line| line["invoice"].as_i64() == Some(id))
            .cloned()
            .collect();
        held.push(Held {
            id,
            state: text(&note["state"]),
            number: note["number"].as_str().map(str::to_owned),
            memo: rebuild(note, &own).map_err(Error::permanent)?,
        });
    }
    held.sort_by_key(|note| ids.iter().position(|id| *id == note.id));
    Ok(held)
}

/// Books one delivery as its credit note; the credit note's id.
pub fn save(tryton: &Tryton, settings: &Settings, delivery: &Delivery) -> Outcome {
    if delivery.envelope.op == Op::Delete {
        return Err(Error::permanent(
            "Tryton credit notes are not deleted by Tenon",
        ));
    }
    let memo: CreditMemo = delivery.json()?;
    check(&memo)?;
    let existing = tryton.search_ordered(
        "account.invoice",
        json!([
            ["type", "=", "out"],
            ["company", "=", tryton.company()],
            ["reference", "=", memo.external_ref]
        ]),
        10,
        json!([["id", "ASC"]]),
    )?;
    for held in load(tryton, &existing)? {
        let name = held.number.as_deref().unwrap_or("(no number)");
        match held.state.as_str() {
            "posted" | "paid" if held.memo == memo => return Ok(Some(held.id.to_string())),
            "posted" | "paid" => {
                return Err(Error::permanent(format!(
                    "Tryton credit note {} {name} is {} and differs from the memo: correct it \
                     in Tryton",
                    held.id, held.state
                )));
            }
            "draft" | "validated" if held.memo == memo => {
                tryton.button("account.invoice", "post", &[held.id])?;
                log::info(format!(
                    "invoice={} ref={} Posted a credit note left unposted.",
                    held.id, memo.external_ref
                ));
                return Ok(Some(held.id.to_string()));
            }
            "draft" | "validated" => {
                if held.state == "validated" {
                    tryton.button("account.invoice", "draft", &[held.id])?;
                }
                tryton.delete("account.invoice", &[held.id])?;
            }
            _ => {
                return Err(Error::permanent(format!(
                    "Tryton credit note {} {name} for this memo is {}: not booked again",
                    held.id, held.state
                )));
            }
        }
    }
    if memo.lines.is_empty() && memo.shipping_cents == 0 && memo.adjustment_cents == 0 {
        log::info(format!("ref={} Nothing to credit.", memo.external_ref));
        return Ok(None);
    }
    let id = book(tryton, settings, &memo)?;
    Ok(Some(id.to_string()))
}

/// Creates, checks and posts the credit note of `memo`; its id.
fn book(tryton: &Tryton, settings: &Settings, memo: &CreditMemo) -> Result<i64, Error> {
    let sale = tryton.search_read(
        "sale.sale",
        json!([["reference", "=", memo.order_ref]]),
        Some(1),
        json!([["id", "ASC"]]),
        &["number", "currency.code", "invoices", "invoice_state"],
    )?;
    let sale = sale.first().ok_or_else(|| {
        Error::retryable(format!(
            "no Tryton sale with reference `{}` yet",
            memo.order_ref
        ))
    })?;
    if sale["currency."]["code"].as_str() != Some(memo.currency.as_str()) {
        return Err(Error::permanent(format!(
            "the memo is in {} but Tryton sale {} is in {}",
            memo.currency,
            sale["id"],
            sale["currency."]["code"].as_str().unwrap_or("no currency")
        )));
    }
    let invoice_ids: Vec<i64> = sale["invoices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    let invoices: Vec<Value> = tryton
        .search_read(
            "account.invoice",
            json!([
                ["id", "in", invoice_ids],
                ["type", "=", "out"],
                ["state", "in", ["posted", "paid"]]
            ]),
            None,
            json!([["id", "ASC"]]),
            &[
                "party",
                "invoice_address",
                "account",
                "journal",
                "payment_term",
                "currency",
                "total_amount",
            ],
        )?
        .into_iter()
        .filter(|invoice| {
            value::minor_from_decimal(&invoice["total_amount"], &memo.currency)
                .is_some_and(|total| total > 0)
        })
        .collect();
    let Some(invoice) = invoices.first() else {
        return Err(Error::retryable(format!(
            "Tryton sale {} `{}` has no posted invoice yet (invoice state {}): the credit \
             note waits for it",
            sale["id"],
            memo.order_ref,
            sale["invoice_state"].as_str().unwrap_or_default()
        )));
    };
    let lines = credit_lines(tryton, settings, memo, &invoices)?;
    let values = json!({
        "type": "out",
        "company": tryton.company(),
        "party": invoice["party"],
        "invoice_address": invoice["invoice_address"],
        "currency": invoice["currency"],
        "account": invoice["account"],
        "journal": invoice["journal"],
        "payment_term": invoice["payment_term"],
        "reference": memo.external_ref,
        "description": format!("{DESCRIPTION}{}", memo.order_ref),
        "comment": memo.reason,
        "lines": [["create", lines]],
    });
    let note = tryton.create("account.invoice", values)?;
    let total = tryton.read("account.invoice", &[note], &["total_amount"])?;
    let total = total
        .first()
        .and_then(|row| value::minor_from_decimal(&row["total_amount"], &memo.currency));
    if total != Some(-memo.total_cents) {
        tryton.delete("account.invoice", &[note])?;
        return Err(Error::permanent(format!(
            "Tryton computed the credit note at {total:?} minor units, not -{}: taxes on the \
             credited lines? Nothing was booked",
            memo.total_cents
        )));
    }
    tryton.button("account.invoice", "post", &[note])?;
    log::info(format!(
        "invoice={note} ref={} order={} total={} Booked and posted a credit note.",
        memo.external_ref, memo.order_ref, memo.total_cents
    ));
    Ok(note)
}

/// The `create` values of the credit note's lines.
fn credit_lines(
    tryton: &Tryton,
    settings: &Settings,
    memo: &CreditMemo,
    invoices: &[Value],
) -> Result<Vec<Value>, Error> {
    let ids: Vec<i64> = invoices.iter().filter_map(|i| i["id"].as_i64()).collect();
    let invoiced = tryton.search_read(
        "account.invoice.line",
        json!([
            ["invoice", "in", ids],
            ["type", "=", "line"],
            ["product", "!=", null]
        ]),
        None,
        json!([["id", "ASC"]]),
        &[
            "product",
            "product.code",
            "quantity",
            "unit",
            "account",
            "taxes",
        ],
    )?;
    let origins: Vec<String> = invoiced
        .iter()
        .filter_map(|line| line["id"].as_i64())
        .map(|id| format!("account.invoice.line,{id}"))
        .collect();
    // What other credit notes already credit of these lines.
    let credited = tryton.search_read(
        "account.invoice.line",
        json!([
            ["origin", "in", origins],
            ["invoice.state", "!=", "cancelled"]
        ]),
        None,
        Value::Null,
        &["origin", "quantity"],
    )?;
    let mut left: BTreeMap<&str, f64> = BTreeMap::new();
    for line in &invoiced {
        let sku = line["product."]["code"].as_str().unwrap_or_default();
        *left.entry(sku).or_default() += line["quantity"].as_f64().unwrap_or(0.0);
        let origin = format!("account.invoice.line,{}", line["id"]);
        for credit in credited
            .iter()
            .filter(|c| c["origin"].as_str() == Some(&origin))
        {
            *left.entry(sku).or_default() += credit["quantity"].as_f64().unwrap_or(0.0);
        }
    }

    let mut lines = Vec::new();
    let mut sequence = 0;
    for line in &memo.lines {
        let Some(origin) = invoiced
            .iter()
            .find(|l| l["product."]["code"].as_str() == Some(line.sku.as_str()))
        else {
            return Err(Error::permanent(format!(
                "`{}` is not on the invoices of sale `{}`",
                line.sku, memo.order_ref
            )));
        };
        let remaining = left.entry(line.sku.as_str()).or_default();
        if line.quantity as f64 > *remaining + 1e-9 {
            return Err(Error::permanent(format!(
                "`{}`: {} refunded but only {remaining} invoiced and not credited yet",
                line.sku, line.quantity
            )));
        }
        *remaining -= line.quantity as f64;
        sequence += 1;
        lines.push(json!({
            "type": "line",
            "sequence": sequence,
            "product": origin["product"],
            "unit": origin["unit"],
            "quantity": -line.quantity,
            "unit_price": value::decimal_from_minor(line.unit_price_cents, &memo.currency),
            "account": origin["account"],
            "taxes": [["add", origin["taxes"]]],
            "origin": format!("account.invoice.line,{}", origin["id"]),
        }));
    }
    let extras = [
        (SHIPPING, memo.shipping_cents),
        (ADJUSTMENT, memo.adjustment_cents),
    ];
    if extras.iter().any(|(_, cents)| *cents != 0) {
        let code = settings.refund_account.as_deref().ok_or_else(|| {
            Error::permanent(
                "the memo refunds shipping or has an adjustment: set config key \
                 `refund_account` to the code of the account to book them on",
            )
        })?;
        let account = *tryton
            .search(
                "account.account",
                json!([["code", "=", code], ["company", "=", tryton.company()]]),
                1,
            )?
            .first()
            .ok_or_else(|| {
                Error::permanent(format!(
                    "config key `refund_account`: no Tryton account `{code}`"
                ))
            })?;
        for (description, cents) in extras {
            if cents == 0 {
                continue;
            }
            sequence += 1;
            lines.push(json!({
                "type": "line",
                "sequence": sequence,
                "description": description,
                "quantity": -1,
                "unit_price": value::decimal_from_minor(cents, &memo.currency),
                "account": account,
            }));
        }
    }
    Ok(lines)
}

/// One page of `reconcile` for `credit-memos`: the posted or paid customer
/// credit notes with a reference and a `Refund of ...` description (the ones
/// this connector books), by id, after the id in `cursor`.
pub fn reconcile(tryton: &Tryton, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let listing = crate::held::Listing {
        stream: crate::CREDIT_MEMOS,
        model: "account.invoice",
        what: "credit notes",
    };
    let domain = vec![
        json!(["type", "=", "out"]),
        json!(["company", "=", tryton.company()]),
        json!(["reference", "!=", null]),
        json!(["reference", "!=", ""]),
        json!(["description", "like", format!("{DESCRIPTION}%")]),
        json!(["state", "in", ["posted", "paid"]]),
    ];
    listing.page(tryton, domain, cursor, limit, |ids| {
        Ok(load(tryton, ids)?
            .into_iter()
            .map(|held| (held.id, held.memo))
            .collect())
    })
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memo() -> CreditMemo {
        CreditMemo {
            external_ref: "shop:creditmemo:7".into(),
            order_ref: "shop:1001".into(),
            currency: "EUR".into(),
            lines: vec![CreditLine {
                sku: "MUG-WHT".into(),
                quantity: 1,
                unit_price_cents: 950,
                total_cents: 950,
            }],
            shipping_cents: 490,
            adjustment_cents: -100,
            total_cents: 1340,
            reason: Some("damaged".into()),
        }
    }

    fn d(text: &str) -> Value {
        json!({"__class__": "Decimal", "decimal": text})
    }

    #[test]
    fn memos_must_add_up() {
        assert!(check(&memo()).is_ok());
        let mut off = memo();
        off.total_cents = 1440;
        assert!(
            check(&off)
                .unwrap_err()
                .message()
                .contains("added up (1340)")
        );
        let mut rounded = memo();
        rounded.lines[0].total_cents = 949;
        rounded.total_cents = 1339;
        assert!(
            check(&rounded)
                .unwrap_err()
                .message()
                .contains("adjustment_cents")
        );
        let mut empty = memo();
        empty.order_ref.clear();
        assert!(check(&empty).is_err());
    }

    #[test]
    fn a_credit_note_rebuilds_the_memo_it_was_booked_from() {
        // As Tryton 8.2 answers for the credit note the connector books.
        let note = json!({"id": 2, "reference": "shop:creditmemo:7",
            "description": "Refund of shop:1001", "comment": "damaged", "state": "posted",
            "number": "CN/1", "total_amount": d("-13.40"), "currency.": {"code": "EUR", "id": 1}});
        let lines = [
            json!({"id": 5, "invoice": 2, "sequence": 3, "product.": null,
                "description": "Adjustment", "quantity": -1.0, "unit_price": d("-1.0000"),
                "amount": d("1.00")}),
            json!({"id": 3, "invoice": 2, "sequence": 1, "product.": {"code": "MUG-WHT", "id": 1},
                "description": null, "quantity": -1.0, "unit_price": d("9.5000"),
                "amount": d("-9.50")}),
            json!({"id": 4, "invoice": 2, "sequence": 2, "product.": null,
                "description": "Shipping", "quantity": -1.0, "unit_price": d("4.9000"),
                "amount": d("-4.90")}),
        ];
        assert_eq!(rebuild(&note, &lines).unwrap(), memo());
        let mut no_reason = note.clone();
        no_reason["comment"] = Value::Null;
        assert_eq!(rebuild(&no_reason, &lines).unwrap().reason, None);
    }
}
