//! The `order-states` stream: what the ERP or the 3PL says of a Vendure order
//! (canonical [`OrderState`], `order_id` = the Vendure order id), applied as
//! Vendure order transitions, and listed for `reconcile`.
//!
//! | `state` | Vendure |
//! |---|---|
//! | `on_hold` | the order moves to the server's custom state `OnHold` (from `ArrangingPayment`, `PaymentAuthorized`, `PaymentSettled` or `PartiallyShipped`; no fulfilment of it ships meanwhile) |
//! | `released`, `invoiced` | an order on hold moves back to the state it was held from (its history says which); any other live order stays as it is |
//! | `shipped` | the order's `Pending` fulfilments move to `Shipped` (released first if on hold), and Vendure must then call the order `Shipped`; an order without fulfilments, or with lines no fulfilment holds, is refused |
//! | `cancelled` | `cancelOrder` (every line, shipping too; the note as the reason); payments are not refunded by it |
//!
//! The order keeps the record in its custom fields `erpState` (public, for the
//! storefront to show) and `erpNote`; when they change and the record has a
//! note, the note goes into the order's history (private). A state Vendure
//! cannot reach from where the order is (holding a shipped order, releasing a
//! cancelled one) is a permanent error quoting the state; so is an unknown
//! order or a delete. A record delivered twice changes nothing. The outcome id
//! is the order id.
//!
//! `reconcile` lists every order with an `erpState`, keyed by order id, as
//! `{order_id, state, note}`: `state` from Vendure's own state where it says
//! one (`OnHold` -> `on_hold`, `Cancelled` -> `cancelled`, `Shipped`,
//! `PartiallyDelivered`, `Delivered` -> `shipped`), else the `released` or
//! `invoiced` written, else `released`.

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::canonical::OrderState;
use tenon_sdk::prelude::*;

use crate::{ORDER_STATES, graphql, listing};

/// Vendure states an order may be put on hold from, and released back to.
const HOLDABLE: [&str; 4] = [
    "ArrangingPayment",
    "PaymentAuthorized",
    "PaymentSettled",
    "PartiallyShipped",
];

/// Vendure states of an order whose goods have all left.
const SHIPPED: [&str; 3] = ["Shipped", "PartiallyDelivered", "Delivered"];

/// The server's custom order state for held orders.
const ON_HOLD: &str = "OnHold";

/// The fields of an order `reconcile` lists.
const LISTED_FIELDS: &str = "id state customFields { erpState erpNote }";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    id: String,
    state: String,
    #[serde(default)]
    custom_fields: StateFields,
    #[serde(default)]
    fulfillments: Option<Vec<Fulfillment>>,
    #[serde(default)]
    history: Option<History>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateFields {
    erp_state: Option<String>,
    erp_note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Fulfillment {
    id: String,
    state: String,
}

#[derive(Debug, Deserialize)]
struct History {
    items: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    data: Value,
}

/// One thing to do to a Vendure order.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Hold,
    Release,
    /// Move these fulfilments to `Shipped`.
    Ship(Vec<String>),
    Cancel,
}

/// Applies each record; the outcome is the order id.
pub fn write(batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent("order states cannot be deleted"));
        }
        let wanted: OrderState = delivery.json()?;
        apply(&wanted).map(Some)
    }))
}

fn apply(wanted: &OrderState) -> Result<String, Error> {
    let order = order(&wanted.order_id)?;
    let fulfilments = order.fulfillments.clone().unwrap_or_default();
    let steps = plan(&wanted.state, &order.state, &fulfilments)
        .map_err(|e| Error::permanent(format!("order `{}` {e}", order.id)))?;
    for step in &steps {
        match step {
            Step::Hold => transition(&order.id, ON_HOLD)?,
            Step::Release => transition(&order.id, &held_from(&order)?)?,
            Step::Ship(ids) => {
                for id in ids {
                    ship(id)?;
                }
                let now = self::order(&order.id)?.state;
                if !SHIPPED.contains(&now.as_str()) {
                    return Err(Error::permanent(format!(
                        "order `{}` is `{now}` after its fulfilments shipped: some lines are in no fulfilment; send their parcels to `fulfilments`",
                        order.id
                    )));
                }
            }
            Step::Cancel => cancel(&order.id, wanted.note.as_deref())?,
        }
    }
    let fields = StateFields {
        erp_state: Some(wanted.state.clone()),
        erp_note: wanted.note.clone(),
    };
    if order.custom_fields != fields {
        let _: Value = graphql::query(
            "mutation Fields($input: UpdateOrderInput!) { setOrderCustomFields(input: $input) { id } }",
            json!({"input": {"id": order.id, "customFields": {"erpState": fields.erp_state, "erpNote": fields.erp_note}}}),
        )?;
        if let Some(note) = &wanted.note {
            let _: Value = graphql::query(
                "mutation Note($input: AddNoteToOrderInput!) { addNoteToOrder(input: $input) { id } }",
                json!({"input": {"id": order.id, "note": format!("{}: {note}", wanted.state), "isPublic": false}}),
            )?;
        }
        log::info(format!(
            "order={} state={} steps={} Applied an order state to a Vendure order.",
            order.id,
            wanted.state,
            steps.len()
        ));
    }
    Ok(order.id)
}

/// What moves an order in Vendure state `now` with these fulfilments to the
/// canonical state `wanted`; why it cannot, else.
fn plan(wanted: &str, now: &str, fulfilments: &[Fulfillment]) -> Result<Vec<Step>, String> {
    match wanted {
        "on_hold" if now == ON_HOLD => Ok(vec![]),
        "on_hold" if HOLDABLE.contains(&now) => Ok(vec![Step::Hold]),
        "on_hold" => Err(format!(
            "is `{now}`: only orders in {} can be held",
            HOLDABLE.join(", ")
        )),
        "released" | "invoiced" if now == ON_HOLD => Ok(vec![Step::Release]),
        "released" | "invoiced" if now == "Cancelled" => {
            Err(format!("is cancelled: it cannot be {wanted}"))
        }
        "released" | "invoiced" => Ok(vec![]),
        "shipped" if SHIPPED.contains(&now) => Ok(vec![]),
        "shipped" if now == "Cancelled" => Err("is cancelled: it cannot be shipped".to_owned()),
        "shipped" => {
            let live: Vec<&Fulfillment> = fulfilments
                .iter()
                .filter(|f| f.state != "Cancelled")
                .collect();
            if live.is_empty() {
                return Err(format!(
                    "is `{now}` and has no fulfilment: send its parcels to `fulfilments` first"
                ));
            }
            let pending: Vec<String> = live
                .iter()
                .filter(|f| f.state == "Pending")
                .map(|f| f.id.clone())
                .collect();
            if pending.is_empty() {
                return Err(format!(
                    "is `{now}`: its fulfilments have left but some lines are in none; send their parcels to `fulfilments`"
                ));
            }
            let mut steps = Vec::new();
            if now == ON_HOLD {
                steps.push(Step::Release);
            }
            steps.push(Step::Ship(pending));
            Ok(steps)
        }
        "cancelled" if now == "Cancelled" => Ok(vec![]),
        "cancelled" => Ok(vec![Step::Cancel]),
        other => Err(format!(
            "cannot take the state `{other}` (on_hold, released, invoiced, shipped, cancelled)"
        )),
    }
}

/// The canonical state an order in Vendure state `now` shows, `written` being
/// the state last written.
fn listed_state(now: &str, written: Option<&str>) -> String {
    match now {
        ON_HOLD => "on_hold",
        "Cancelled" => "cancelled",
        s if SHIPPED.contains(&s) => "shipped",
        _ => written
            .filter(|s| matches!(*s, "released" | "invoiced"))
            .unwrap_or("released"),
    }
    .to_owned()
}

/// The state an order on hold was held from: its latest transition to
/// `OnHold` says.
fn held_from(order: &Order) -> Result<String, Error> {
    order
        .history
        .iter()
        .flat_map(|h| &h.items)
        .find(|e| e.data["to"] == ON_HOLD)
        .and_then(|e| e.data["from"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::permanent(format!(
                "order `{}` is on hold but its history does not say from which state",
                order.id
            ))
        })
}

fn order(id: &str) -> Result<Order, Error> {
    #[derive(Deserialize)]
    struct Data {
        order: Option<Order>,
    }
    let data: Data = graphql::query(
        "query Order($id: ID!) { order(id: $id) { id state customFields { erpState erpNote } fulfillments { id state } history(options: {filter: {type: {eq: \"ORDER_STATE_TRANSITION\"}}, sort: {id: DESC}, take: 100}) { items { data } } } }",
        json!({ "id": id }),
    )?;
    data.order
        .ok_or_else(|| Error::permanent(format!("order `{id}` is not in Vendure")))
}

fn transition(id: &str, state: &str) -> Result<(), Error> {
    let mut data: Value = graphql::query(
        "mutation State($id: ID!, $state: String!) { transitionOrderToState(id: $id, state: $state) { ... on Order { id state } ... on OrderStateTransitionError { errorCode message transitionError } } }",
        json!({"id": id, "state": state}),
    )?;
    let result = data["transitionOrderToState"].take();
    if result["state"].as_str() == Some(state) {
        return Ok(());
    }
    Err(Error::permanent(format!(
        "Vendure did not move order `{id}` to `{state}`: {}",
        result["transitionError"]
            .as_str()
            .or(result["message"].as_str())
            .unwrap_or("no reason given")
    )))
}

fn ship(fulfilment: &str) -> Result<(), Error> {
    let mut data: Value = graphql::query(
        "mutation Ship($id: ID!) { transitionFulfillmentToState(id: $id, state: \"Shipped\") { ... on Fulfillment { id state } ... on FulfillmentStateTransitionError { errorCode message transitionError } } }",
        json!({ "id": fulfilment }),
    )?;
    let result = data["transitionFulfillmentToState"].take();
    if result["state"].as_str() == Some("Shipped") {
        return Ok(());
    }
    Err(Error::permanent(format!(
        "Vendure did not ship fulfilment `{fulfilment}`: {}",
        result["transitionError"]
            .as_str()
            .or(result["message"].as_str())
            .unwrap_or("no reason given")
    )))
}

fn cancel(id: &str, reason: Option<&str>) -> Result<(), Error> {
    let mut data: Value = graphql::query(
        "mutation Cancel($input: CancelOrderInput!) { cancelOrder(input: $input) { ... on Order { id state } ... on ErrorResult { errorCode message } } }",
        json!({"input": {"orderId": id, "reason": reason, "cancelShipping": true}}),
    )?;
    let result = data["cancelOrder"].take();
    if result["state"].as_str() == Some("Cancelled") {
        return Ok(());
    }
    Err(Error::permanent(format!(
        "Vendure did not cancel order `{id}` ({}): {}",
        result["errorCode"].as_str().unwrap_or("?"),
        result["message"].as_str().unwrap_or("no message")
    )))
}

/// One page of every order an order state was written to, keyed by order id,
/// in id order.
pub fn reconcile(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let query = format!(
        "query Orders($options: OrderListOptions) {{ orders(options: $options) {{ items {{ {LISTED_FIELDS} }} }} }}"
    );
    let page = listing::page(
        &listing::Listed::new(&query, "orders").filter(json!({"erpState": {"isNull": false}})),
        cursor,
        limit,
        |o: &Order| &o.id,
        |o| {
            let payload = OrderState {
                order_id: o.id.clone(),
                state: listed_state(&o.state, o.custom_fields.erp_state.as_deref()),
                note: o.custom_fields.erp_note.clone(),
            };
            Ok(vec![(
                String::new(),
                Envelope::upsert(ORDER_STATES, &o.id, &payload, None)?,
            )])
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Vendure order states.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fulfilment(id: &str, state: &str) -> Fulfillment {
        Fulfillment {
            id: id.into(),
            state: state.into(),
        }
    }

    #[test]
    fn holds_and_releases_move_between_vendure_states() {
        assert_eq!(plan("on_hold", "PaymentSettled", &[]), Ok(vec![Step::Hold]));
        assert_eq!(plan("on_hold", "OnHold", &[]), Ok(vec![]));
        assert!(
            plan("on_hold", "Shipped", &[])
                .unwrap_err()
                .contains("`Shipped`")
        );
        assert_eq!(plan("released", "OnHold", &[]), Ok(vec![Step::Release]));
        assert_eq!(plan("invoiced", "OnHold", &[]), Ok(vec![Step::Release]));
        assert_eq!(plan("released", "PaymentSettled", &[]), Ok(vec![]));
        assert!(plan("invoiced", "Cancelled", &[]).is_err());
        assert_eq!(
            plan("cancelled", "PaymentSettled", &[]),
            Ok(vec![Step::Cancel])
        );
        assert_eq!(plan("cancelled", "Cancelled", &[]), Ok(vec![]));
        assert!(
            plan("lost", "PaymentSettled", &[])
                .unwrap_err()
                .contains("`lost`")
        );
    }

    #[test]
    fn shipping_needs_fulfilments_that_can_ship() {
        assert!(
            plan("shipped", "PaymentSettled", &[])
                .unwrap_err()
                .contains("no fulfilment")
        );
        assert!(
            plan("shipped", "PaymentSettled", &[fulfilment("1", "Cancelled")])
                .unwrap_err()
                .contains("no fulfilment")
        );
        assert_eq!(
            plan(
                "shipped",
                "PaymentSettled",
                &[fulfilment("1", "Pending"), fulfilment("2", "Shipped")]
            ),
            Ok(vec![Step::Ship(vec!["1".into()])])
        );
        assert_eq!(
            plan("shipped", "OnHold", &[fulfilment("1", "Pending")]),
            Ok(vec![Step::Release, Step::Ship(vec!["1".into()])])
        );
        assert!(plan("shipped", "PartiallyShipped", &[fulfilment("1", "Shipped")]).is_err());
        assert_eq!(plan("shipped", "Delivered", &[]), Ok(vec![]));
        assert!(plan("shipped", "Cancelled", &[]).is_err());
    }

    #[test]
    fn listed_states_follow_vendure_first() {
        assert_eq!(listed_state("OnHold", Some("on_hold")), "on_hold");
        assert_eq!(listed_state("PaymentSettled", Some("on_hold")), "released");
        assert_eq!(listed_state("PaymentSettled", Some("invoiced")), "invoiced");
        assert_eq!(listed_state("Shipped", Some("invoiced")), "shipped");
        assert_eq!(listed_state("Cancelled", Some("released")), "cancelled");
        assert_eq!(
            listed_state("PartiallyShipped", Some("shipped")),
            "released"
        );
    }

    #[test]
    fn a_hold_is_released_to_where_it_came_from() {
        let order = Order {
            id: "7".into(),
            state: "OnHold".into(),
            custom_fields: StateFields::default(),
            fulfillments: None,
            history: Some(History {
                items: vec![
                    Entry {
                        data: json!({"from": "PartiallyShipped", "to": "OnHold"}),
                    },
                    Entry {
                        data: json!({"from": "OnHold", "to": "PartiallyShipped"}),
                    },
                    Entry {
                        data: json!({"from": "PaymentSettled", "to": "OnHold"}),
                    },
                ],
            }),
        };
        assert_eq!(held_from(&order).unwrap(), "PartiallyShipped");
    }
}
