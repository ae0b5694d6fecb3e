//! The `order-states` stream: what the ERP or the 3PL says of a Magento order
//! (canonical [`OrderState`]), applied to it, and listed for `reconcile`.
//!
//! - `on_hold`: `POST /V1/orders/{id}/hold`; `released`: `POST
//!   /V1/orders/{id}/unhold`; `cancelled`: `POST /V1/orders/{id}/cancel`; each
//!   only when the order is not in that state already;
//! - `invoiced` and `shipped` move the order's status (`processing`,
//!   `complete`) with its history comment; Magento accepts a status that
//!   belongs to the order's state only, and refuses (permanent, quoted) the
//!   others. An order on hold or cancelled is refused for them.
//!
//! Every state adds one comment to the order's history (`POST
//! /V1/orders/{id}/comments`, not shown to the customer): the state's label,
//! and the note after `: ` (`On hold: credit limit exceeded`). The label is
//! how `reconcile` tells `released` from `invoiced` on a `processing` order,
//! which Magento's state alone cannot. Before anything, the order is read: a
//! record whose state the order is in, with its comment the newest the
//! connector wrote, is applied already and changes nothing. The outcome id is
//! the order id.
//!
//! `reconcile` lists every order with such a comment, keyed by order id: the
//! state and note of the newest one when Magento's state agrees with it (on
//! hold is `holded`, cancelled is `canceled`, the others neither), else the
//! state Magento's own says (`holded` on hold, `canceled` cancelled,
//! `complete` and `closed` shipped, `processing` invoiced, any other
//! released), without a note.

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::canonical::OrderState;
use tenon_sdk::prelude::*;

use crate::ORDER_STATES;
use crate::criteria::SearchCriteria;
use crate::listing::{self, Row};
use crate::rest::{Magento, Scope};

/// Each canonical state and its label in the order's history.
const LABELS: [(&str, &str); 5] = [
    ("on_hold", "On hold"),
    ("released", "Released"),
    ("invoiced", "Invoiced"),
    ("shipped", "Shipped"),
    ("cancelled", "Cancelled"),
];

/// An order as the stream reads it.
#[derive(Debug, Deserialize)]
struct HeldOrder {
    entity_id: u64,
    #[serde(default)]
    state: String,
    #[serde(default)]
    status_histories: Vec<History>,
}

impl listing::Item for HeldOrder {
    fn entity_id(&self) -> u64 {
        self.entity_id
    }
}

/// One entry of an order's history.
#[derive(Debug, Deserialize)]
struct History {
    #[serde(default)]
    entity_id: u64,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    created_at: String,
}

/// Applies each record to its order; the outcome is the order id.
pub fn write(api: &Magento, batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent(
                "order states cannot be deleted; send the state the order is in now",
            ));
        }
        let wanted: OrderState = delivery.json()?;
        let label = label(&wanted.state).ok_or_else(|| {
            Error::permanent(format!("state `{}` is not an order state", wanted.state))
        })?;
        let (id, order): (u64, HeldOrder) = crate::orders::fetch(api, &wanted.order_id)?;
        if applied(&order, &wanted) {
            return Ok(Some(id.to_string()));
        }
        let action = |verb: &str| -> Result<(), Error> {
            let answer: Value =
                api.post(Scope::Store, &format!("/orders/{id}/{verb}"), &json!({}))?;
            if answer == Value::Bool(false) {
                return Err(Error::permanent(format!(
                    "Magento would not {verb} order {id} in state `{}`",
                    order.state
                )));
            }
            Ok(())
        };
        let mut status = None;
        match wanted.state.as_str() {
            "on_hold" if order.state != "holded" => action("hold")?,
            "released" if order.state == "holded" => action("unhold")?,
            "cancelled" if order.state != "canceled" => action("cancel")?,
            "invoiced" | "shipped" => {
                if matches!(order.state.as_str(), "holded" | "canceled") {
                    return Err(Error::permanent(format!(
                        "order {id} is `{}` in Magento: it cannot be {} (release it first)",
                        order.state, wanted.state
                    )));
                }
                status = Some(if wanted.state == "invoiced" {
                    "processing"
                } else {
                    "complete"
                });
            }
            _ => {}
        }
        let mut history = json!({
            "comment": comment(label, wanted.note.as_deref()),
            "is_customer_notified": 0,
            "is_visible_on_front": 0,
            "parent_id": id,
        });
        if let Some(status) = status {
            history["status"] = json!(status);
        }
        let _: Value = api.post(
            Scope::Store,
            &format!("/orders/{id}/comments"),
            &json!({ "statusHistory": history }),
        )?;
        log::info(format!(
            "order={id} state={} Applied an order state in Magento.",
            wanted.state
        ));
        Ok(Some(id.to_string()))
    }))
}

/// The history label of canonical `state`.
fn label(state: &str) -> Option<&'static str> {
    LABELS.iter().find(|(s, _)| *s == state).map(|(_, l)| *l)
}

/// The history comment of a state's `label` with `note`.
fn comment(label: &str, note: Option<&str>) -> String {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        Some(note) => format!("{label}: {note}"),
        None => label.to_owned(),
    }
}

/// The state and note of a comment the connector wrote, if it is one.
fn parse(comment: &str) -> Option<(&'static str, Option<String>)> {
    LABELS.iter().find_map(|(state, label)| {
        let rest = comment.strip_prefix(label)?;
        if rest.is_empty() {
            Some((*state, None))
        } else {
            rest.strip_prefix(": ")
                .map(|note| (*state, Some(note.to_owned())))
        }
    })
}

/// The state and note of the newest comment the connector wrote on `order`.
fn newest(order: &HeldOrder) -> Option<(&'static str, Option<String>)> {
    order
        .status_histories
        .iter()
        .filter_map(|h| Some(((&h.created_at, h.entity_id), parse(h.comment.as_deref()?)?)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, parsed)| parsed)
}

/// Whether Magento's order `state` agrees with canonical `wanted`.
fn agrees(wanted: &str, state: &str) -> bool {
    match wanted {
        "on_hold" => state == "holded",
        "cancelled" => state == "canceled",
        _ => !matches!(state, "holded" | "canceled"),
    }
}

/// Whether `wanted` is applied to `order` already.
fn applied(order: &HeldOrder, wanted: &OrderState) -> bool {
    let note = wanted
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    agrees(&wanted.state, &order.state)
        && newest(order).is_some_and(|(state, n)| state == wanted.state && n.as_deref() == note)
}

/// What the stream says of an order the connector wrote a state on.
fn current(order: &HeldOrder) -> Option<OrderState> {
    let (state, note) = newest(order)?;
    let (state, note) = if agrees(state, &order.state) {
        (state, note)
    } else {
        let own = match order.state.as_str() {
            "holded" => "on_hold",
            "canceled" => "cancelled",
            "complete" | "closed" => "shipped",
            "processing" => "invoiced",
            _ => "released",
        };
        (own, None)
    };
    Some(OrderState {
        order_id: order.entity_id.to_string(),
        state: state.to_owned(),
        note,
    })
}

/// One page of every order the connector wrote a state on, keyed by id.
pub fn reconcile(api: &Magento, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let page = listing::page(
        api,
        Scope::Store,
        "/orders",
        SearchCriteria::new(),
        cursor,
        limit,
        |orders: &[HeldOrder]| {
            orders
                .iter()
                .filter_map(|o| current(o).map(|s| (o.entity_id, s)))
                .map(|(id, state)| {
                    Ok(Row {
                        id,
                        sub: String::new(),
                        envelope: Envelope::upsert(ORDER_STATES, &state.order_id, &state, None)?,
                    })
                })
                .collect()
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Magento order states.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(state: &str, comments: &[(&str, &str)]) -> HeldOrder {
        let histories: Vec<Value> = comments
            .iter()
            .enumerate()
            .map(|(i, (at, c))| json!({"entity_id": i + 1, "comment": c, "created_at": at, "status": "processing", "entity_name": "order"}))
            .collect();
        serde_json::from_value(json!({"entity_id": 1042, "state": state, "status": state, "status_histories": histories})).unwrap()
    }

    fn state(state: &str, note: Option<&str>) -> OrderState {
        OrderState {
            order_id: "1042".into(),
            state: state.into(),
            note: note.map(Into::into),
        }
    }

    #[test]
    fn comments_carry_the_state_label_and_the_note() {
        assert_eq!(
            comment("On hold", Some("credit limit exceeded")),
            "On hold: credit limit exceeded"
        );
        assert_eq!(comment("Released", Some(" ")), "Released");
        assert_eq!(
            parse("On hold: credit limit exceeded"),
            Some(("on_hold", Some("credit limit exceeded".into())))
        );
        assert_eq!(parse("Invoiced"), Some(("invoiced", None)));
        assert_eq!(parse("Invoiced by hand"), None);
        assert_eq!(parse("Customer called"), None);
    }

    #[test]
    fn a_state_the_order_is_in_with_its_comment_is_applied_already() {
        let held = order(
            "holded",
            &[("2026-11-23 10:00:00", "On hold: credit limit exceeded")],
        );
        assert!(applied(
            &held,
            &state("on_hold", Some("credit limit exceeded"))
        ));
        assert!(!applied(&held, &state("on_hold", Some("another reason"))));
        assert!(!applied(&held, &state("released", None)));
        // Held by hand in Magento after the connector released it.
        let by_hand = order("holded", &[("2026-11-23 10:00:00", "Released")]);
        assert!(!applied(&by_hand, &state("released", None)));
    }

    #[test]
    fn an_order_reads_back_as_its_newest_state_or_what_magento_says() {
        let released = order(
            "processing",
            &[
                ("2026-11-23 10:00:00", "On hold: credit"),
                ("2026-11-23 11:00:00", "Released"),
                ("2026-11-23 12:00:00", "Customer called"),
            ],
        );
        assert_eq!(
            current(&released),
            Some(state("released", None)),
            "not invoiced: the label tells"
        );
        let invoiced = order("processing", &[("2026-11-23 11:00:00", "Invoiced: INV-7")]);
        assert_eq!(current(&invoiced), Some(state("invoiced", Some("INV-7"))));
        let cancelled_by_hand = order("canceled", &[("2026-11-23 11:00:00", "Invoiced: INV-7")]);
        assert_eq!(current(&cancelled_by_hand), Some(state("cancelled", None)));
        assert_eq!(
            current(&order(
                "processing",
                &[("2026-11-23 11:00:00", "Customer called")]
            )),
            None
        );
    }
}
