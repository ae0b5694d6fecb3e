//! The `returns` stream: goods a customer sends back, as the 3PL handles them
//! (canonical [`Return`]), kept as Adobe Commerce returns (RMAs, module
//! Magento_Rma), and listed for `reconcile`. It writes RMAs only: no money
//! (refunds are credit memos) and no stock (the 3PL's `inventory-levels`).
//!
//! A record is one RMA of its order (`order_id` is the order's `entity_id`,
//! read with `GET /V1/orders/{id}`). Each line is one RMA item: its SKU's
//! top-level order item (a configurable line through its parent, which
//! carries the chosen child's SKU; failing that, the parent of a child item of
//! that SKU), of two with one SKU the first with enough ordered left; the
//! lines must not return more of an item than was ordered. The item's fields
//! follow the record's state, `q` being the line's quantity:
//!
//! | State | Item `status` | `qty_requested`, `qty_authorized` | `qty_returned` | `qty_approved` |
//! |---|---|---|---|---|
//! | `requested` | `authorized` | q | 0 | 0 |
//! | `received` | `received` | q | q | 0 |
//! | `approved` | `approved` (`resolution` `refund`) | q | q | q |
//! | `rejected` | `rejected` | q | q | 0 |
//!
//! `condition` is the line's disposition (`restock`, `dispose`) and `reason`
//! its reason, once given. Magento derives the RMA's status from its items
//! (`authorized`, `received`, `processed_closed`, `closed`) and counts the
//! units received or approved in the order item's `qty_returned`, which is
//! how the storefront shows them returned. A requested return is authorized
//! at once: the 3PL that sends it has issued its RMA number already.
//!
//! Magento takes no idempotency key, so the RMA carries the record's
//! `external_ref` in the comment written with it (`Tenon return
//! <external_ref>`, not shown to the customer), and a location in a line
//! under it (`Location: <location>`; a new location adds such a comment). A
//! record is looked up among its order's RMAs (`GET /V1/returns`, `order_id
//! eq`) by that comment: none creates the RMA (`POST /V1/returns`), one is
//! updated (`PUT /V1/returns/{id}`) unless its items and location are the
//! record's already, so a version delivered twice changes nothing. The
//! outcome id is the RMA's `entity_id`. Refused, each for its record: an
//! unknown order, a SKU the order does not have, more than was ordered, a
//! change to an RMA Magento has closed, an RMA whose items are not the record's lines any
//! more (Magento keeps an RMA's items), an order whose RMAs Magento lists
//! without their comments (some versions answer `null`: the record could be
//! there already), and what Magento refuses (more than was shipped), quoted.
//!
//! `reconcile` lists every RMA with such a comment, keyed by id, as the
//! record written: the lines in the RMA's item order (the record's), each
//! SKU from the order item, `quantity` = `qty_requested`, and the state from
//! the RMA's status (`received`, `received_on_item`: received;
//! `processed_closed`, `approved_on_item`: approved; `closed`,
//! `rejected_on_item`: rejected; any other: requested).

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use tenon_sdk::canonical::{Return, ReturnLine};
use tenon_sdk::prelude::*;

use crate::criteria::{self, SearchCriteria};
use crate::listing::{self, Row};
use crate::orders::{self, MagentoOrder};
use crate::rest::{Magento, Scope};
use crate::{RETURNS, money};

/// How the comment that keys an RMA to its record starts.
const TAG: &str = "Tenon return ";

/// How the line of such a comment that names the location starts.
const LOCATION: &str = "Location: ";

/// The canonical states.
const STATES: [&str; 4] = ["requested", "received", "approved", "rejected"];

/// The `resolution` of an approved item: the customer's money back (the
/// refund itself is a credit memo, not this stream's).
const APPROVED_RESOLUTION: &str = "refund";

/// The statuses of an RMA Magento has closed (its admin offers no more
/// changes): the stream changes it no more either.
const CLOSED: [&str; 2] = ["closed", "processed_closed"];

/// An RMA as `GET /V1/returns` lists it.
#[derive(Debug, Deserialize)]
struct HeldRma {
    entity_id: u64,
    order_id: u64,
    #[serde(default)]
    status: String,
    // Some Magento versions answer `null` for an RMA's items and comments.
    #[serde(default, deserialize_with = "null_as_empty")]
    items: Vec<HeldItem>,
    /// `None` when Magento did not list them: then no one can tell whose
    /// RMA it is.
    #[serde(default)]
    comments: Option<Vec<Comment>>,
}

impl listing::Item for HeldRma {
    fn entity_id(&self) -> u64 {
        self.entity_id
    }
}

#[derive(Debug, Deserialize)]
struct HeldItem {
    entity_id: u64,
    order_item_id: u64,
    #[serde(default)]
    qty_requested: Value,
    #[serde(default)]
    qty_authorized: Value,
    #[serde(default)]
    qty_returned: Value,
    #[serde(default)]
    qty_approved: Value,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    resolution: Option<String>,
    #[serde(default)]
    status: String,
}

#[derive(Debug, Deserialize)]
struct Comment {
    #[serde(default)]
    entity_id: u64,
    #[serde(default)]
    comment: Option<String>,
}

/// An order's items, to name the SKUs of its RMA items.
#[derive(Debug, Deserialize)]
struct OrderLines {
    #[serde(default)]
    items: Vec<orders::Item>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// The fields of an RMA item the stream writes, as Magento's `ItemInterface`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct ItemFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_id: Option<u64>,
    order_item_id: u64,
    qty_requested: i64,
    qty_authorized: i64,
    qty_returned: i64,
    qty_approved: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolution: Option<String>,
    status: String,
}

impl ItemFields {
    /// What Magento holds of `item`.
    fn held(item: &HeldItem) -> ItemFields {
        let qty = |value: &Value| money::whole(value).unwrap_or(0);
        ItemFields {
            entity_id: Some(item.entity_id),
            order_item_id: item.order_item_id,
            qty_requested: qty(&item.qty_requested),
            qty_authorized: qty(&item.qty_authorized),
            qty_returned: qty(&item.qty_returned),
            qty_approved: qty(&item.qty_approved),
            reason: item.reason.clone(),
            condition: item.condition.clone(),
            resolution: item.resolution.clone(),
            status: item.status.clone(),
        }
    }

    /// The item of `line` of a return in `state`, of order item
    /// `order_item_id`; over `held`, which keeps what the line does not say.
    fn wanted(state: &str, line: &ReturnLine, order_item_id: u64, held: Option<&HeldItem>) -> Self {
        let q = line.quantity;
        let (status, returned, approved) = match state {
            "requested" => ("authorized", 0, 0),
            "received" => ("received", q, 0),
            "approved" => ("approved", q, q),
            _ => ("rejected", q, 0),
        };
        let kept = |of: fn(&HeldItem) -> &Option<String>| held.and_then(|h| of(h).clone());
        ItemFields {
            entity_id: held.map(|h| h.entity_id),
            order_item_id,
            qty_requested: q,
            qty_authorized: q,
            qty_returned: returned,
            qty_approved: approved,
            reason: trimmed(line.reason.as_deref()).or_else(|| kept(|h| &h.reason)),
            condition: line.disposition.clone().or_else(|| kept(|h| &h.condition)),
            resolution: if state == "approved" {
                Some(APPROVED_RESOLUTION.to_owned())
            } else {
                kept(|h| &h.resolution)
            },
            status: status.to_owned(),
        }
    }
}

/// `value` trimmed, `None` when empty.
fn trimmed(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Keeps each return as one RMA of its order; the outcome is the RMA id.
pub fn write(api: &Magento, batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent(
                "returns cannot be deleted; send the state the return is in now",
            ));
        }
        let wanted: Return = delivery.json()?;
        check(&wanted)?;
        let (order_id, order): (u64, MagentoOrder) = orders::fetch(api, &wanted.order_id)?;
        let lines = order_items(&wanted, &order)?;
        let external_ref = wanted.external_ref.trim();
        let id = match find(api, order_id, external_ref)? {
            None => {
                let answer: Value =
                    api.post(Scope::Store, "/returns", &create(&wanted, order_id, &lines))?;
                let id = answer["entity_id"].as_u64().ok_or_else(|| {
                    Error::permanent(format!(
                        "Magento answered the return of order {order_id} without its entity_id: `{answer}`"
                    ))
                })?;
                log::info(format!(
                    "order={order_id} rma={id} state={} Created a return in Magento.",
                    wanted.state
                ));
                id
            }
            Some(held) => {
                if let Some(body) = update(&wanted, &held, &lines)? {
                    let _: Value =
                        api.put(Scope::Store, &format!("/returns/{}", held.entity_id), &body)?;
                    log::info(format!(
                        "order={order_id} rma={} state={} Updated a return in Magento.",
                        held.entity_id, wanted.state
                    ));
                }
                held.entity_id
            }
        };
        Ok(Some(id.to_string()))
    }))
}

/// Why `wanted` cannot be an RMA, if it cannot.
fn check(wanted: &Return) -> Result<(), Error> {
    let external_ref = wanted.external_ref.trim();
    if external_ref.is_empty() || external_ref.contains('\n') {
        return Err(Error::permanent(
            "the external_ref must be one line of text",
        ));
    }
    if !STATES.contains(&wanted.state.as_str()) {
        return Err(Error::permanent(format!(
            "state `{}` is none of {}",
            wanted.state,
            STATES.join(", ")
        )));
    }
    if wanted.lines.is_empty() {
        return Err(Error::permanent("the return has no lines"));
    }
    for line in &wanted.lines {
        if line.quantity < 1 {
            return Err(Error::permanent(format!(
                "sku `{}`: quantity {} is not positive",
                line.sku, line.quantity
            )));
        }
        if let Some(disposition) = &line.disposition
            && !matches!(disposition.as_str(), "restock" | "dispose")
        {
            return Err(Error::permanent(format!(
                "sku `{}`: disposition `{disposition}` is neither restock nor dispose",
                line.sku
            )));
        }
    }
    Ok(())
}

/// The order item each line of `wanted` returns, in line order.
fn order_items(wanted: &Return, order: &MagentoOrder) -> Result<Vec<u64>, Error> {
    let qty = |v: &Value| money::whole(v).unwrap_or(0);
    let mut left: HashMap<u64, i64> = order
        .items
        .iter()
        .filter(|i| i.parent_item_id.is_none())
        .map(|i| (i.item_id, qty(&i.qty_ordered)))
        .collect();
    let candidates = |sku: &str| -> Vec<u64> {
        let top: Vec<u64> = order
            .items
            .iter()
            .filter(|i| i.parent_item_id.is_none() && i.sku == sku)
            .map(|i| i.item_id)
            .collect();
        if !top.is_empty() {
            return top;
        }
        // A parent row that shows the configurable's own SKU: the child has the line's.
        order
            .items
            .iter()
            .filter(|i| i.sku == sku)
            .filter_map(|i| i.parent_item_id)
            .collect()
    };
    let mut chosen = Vec::with_capacity(wanted.lines.len());
    for line in &wanted.lines {
        let items = candidates(&line.sku);
        if items.is_empty() {
            return Err(Error::permanent(format!(
                "order {} has no line with sku `{}`",
                order.entity_id, line.sku
            )));
        }
        let Some(&item) = items.iter().find(|id| left[id] >= line.quantity) else {
            let returned: i64 = wanted
                .lines
                .iter()
                .filter(|l| l.sku == line.sku)
                .map(|l| l.quantity)
                .sum();
            let ordered: i64 = order
                .items
                .iter()
                .filter(|i| items.contains(&i.item_id))
                .map(|i| qty(&i.qty_ordered))
                .sum();
            return Err(Error::permanent(format!(
                "sku `{}`: the return has {returned}, but order {} has {ordered} of it",
                line.sku, order.entity_id
            )));
        };
        if let Some(units) = left.get_mut(&item) {
            *units -= line.quantity;
        }
        chosen.push(item);
    }
    Ok(chosen)
}

/// The RMA of order `order_id` keyed to `external_ref`, if Magento has one.
fn find(api: &Magento, order_id: u64, external_ref: &str) -> Result<Option<HeldRma>, Error> {
    let returns: Vec<HeldRma> = criteria::all(
        api,
        Scope::Store,
        "/returns",
        &SearchCriteria::new()
            .filter("order_id", "eq", &order_id.to_string())
            .page_size(api.settings.page_size),
    )?;
    keyed_to(returns, order_id, external_ref)
}

/// Of order `order_id`'s `returns`, the RMA keyed to `external_ref`.
fn keyed_to(
    returns: Vec<HeldRma>,
    order_id: u64,
    external_ref: &str,
) -> Result<Option<HeldRma>, Error> {
    if let Some(unlisted) = returns.iter().find(|rma| rma.comments.is_none()) {
        // It may be this return's: creating another could return it twice.
        return Err(Error::permanent(format!(
            "Magento lists RMA {} of order {order_id} without its comments, so it cannot tell whether the return is there already",
            unlisted.entity_id
        )));
    }
    Ok(returns
        .into_iter()
        .find(|rma| keyed(rma).is_some_and(|(r, _)| r == external_ref)))
}

/// The text of the comment that keys an RMA to `external_ref`, with the
/// location.
fn comment_text(external_ref: &str, location: Option<&str>) -> String {
    match location {
        Some(location) => format!("{TAG}{external_ref}\n{LOCATION}{location}"),
        None => format!("{TAG}{external_ref}"),
    }
}

/// The external_ref and location of a comment the stream wrote, if it is one.
fn parse(comment: &str) -> Option<(&str, Option<&str>)> {
    let rest = comment.strip_prefix(TAG)?;
    Some(match rest.split_once('\n') {
        Some((external_ref, line)) => (external_ref, line.strip_prefix(LOCATION)),
        None => (rest, None),
    })
}

/// The external_ref of the stream's first comment on `rma` and the location
/// of its newest one that has a location.
fn keyed(rma: &HeldRma) -> Option<(&str, Option<&str>)> {
    let mut ours: Vec<(u64, (&str, Option<&str>))> = rma
        .comments
        .iter()
        .flatten()
        .filter_map(|c| Some((c.entity_id, parse(c.comment.as_deref()?)?)))
        .collect();
    ours.sort_by_key(|(id, _)| *id);
    let (_, (external_ref, _)) = ours.first()?;
    let location = ours.iter().rev().find_map(|(_, (_, location))| *location);
    Some((external_ref, location))
}

/// A comment of the stream in an `rmaDataObject`, not shown to the customer.
fn comment(external_ref: &str, location: Option<&str>) -> Value {
    json!({
        "comment": comment_text(external_ref, location),
        "visible_on_front": false,
        "customer_notified": false,
    })
}

/// The body of `POST /V1/returns` for `wanted` of order `order_id`, its lines
/// returning `lines`.
fn create(wanted: &Return, order_id: u64, lines: &[u64]) -> Value {
    let items: Vec<ItemFields> = wanted
        .lines
        .iter()
        .zip(lines)
        .map(|(line, item)| ItemFields::wanted(&wanted.state, line, *item, None))
        .collect();
    let location = trimmed(wanted.location.as_deref());
    json!({
        "rmaDataObject": {
            "order_id": order_id,
            "items": items,
            "comments": [comment(wanted.external_ref.trim(), location.as_deref())],
        }
    })
}

/// The body of `PUT /V1/returns/{id}` that brings `held` to `wanted`, its
/// lines returning `lines`; `None` when `held` is so already.
fn update(wanted: &Return, held: &HeldRma, lines: &[u64]) -> Result<Option<Value>, Error> {
    let id = held.entity_id;
    let held_lines: Vec<u64> = held.items.iter().map(|i| i.order_item_id).collect();
    if held_lines != lines {
        return Err(Error::permanent(format!(
            "Magento RMA {id} returns order items {held_lines:?}, but the record's lines are order items {lines:?}: Magento keeps an RMA's items, so correct it in Magento"
        )));
    }
    let items: Vec<ItemFields> = wanted
        .lines
        .iter()
        .zip(&held.items)
        .map(|(line, item)| ItemFields::wanted(&wanted.state, line, item.order_item_id, Some(item)))
        .collect();
    let location = trimmed(wanted.location.as_deref());
    let moved = location.is_some() && keyed(held).and_then(|(_, l)| l) != location.as_deref();
    let same = items
        .iter()
        .zip(&held.items)
        .all(|(item, held)| *item == ItemFields::held(held));
    if same && !moved {
        return Ok(None);
    }
    if CLOSED.contains(&held.status.as_str()) {
        return Err(Error::permanent(format!(
            "Magento RMA {id} is `{}`: a closed return does not change any more",
            held.status
        )));
    }
    let mut data = json!({ "entity_id": id, "order_id": held.order_id, "items": items });
    if moved {
        data["comments"] = json!([comment(wanted.external_ref.trim(), location.as_deref())]);
    }
    Ok(Some(json!({ "rmaDataObject": data })))
}

/// The canonical state of an RMA in `status`.
fn state(status: &str) -> &'static str {
    match status {
        "received" | "received_on_item" => "received",
        "processed_closed" | "approved_on_item" => "approved",
        "closed" | "rejected_on_item" => "rejected",
        _ => "requested",
    }
}

/// The return the stream wrote as `rma`, if it wrote it; `skus` names the
/// order items.
fn canonical(rma: &HeldRma, skus: &HashMap<u64, String>) -> Option<Return> {
    let (external_ref, location) = keyed(rma)?;
    let lines = rma
        .items
        .iter()
        .map(|item| ReturnLine {
            sku: skus.get(&item.order_item_id).cloned().unwrap_or_default(),
            quantity: money::whole(&item.qty_requested).unwrap_or(0),
            disposition: item
                .condition
                .clone()
                .filter(|c| matches!(c.as_str(), "restock" | "dispose")),
            reason: trimmed(item.reason.as_deref()),
        })
        .collect();
    Some(Return {
        external_ref: external_ref.to_owned(),
        order_id: rma.order_id.to_string(),
        state: state(&rma.status).to_owned(),
        lines,
        location: location.map(str::to_owned),
    })
}

/// The SKU of every item of the orders of `returns`.
fn order_skus(api: &Magento, returns: &[HeldRma]) -> Result<HashMap<u64, String>, Error> {
    let mut ids: Vec<String> = returns
        .iter()
        .filter(|rma| keyed(rma).is_some())
        .map(|rma| rma.order_id.to_string())
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let orders: Vec<OrderLines> = criteria::all(
        api,
        Scope::Store,
        "/orders",
        &SearchCriteria::new()
            .filter("entity_id", "in", &criteria::list(&ids))
            .page_size(api.settings.page_size),
    )?;
    Ok(orders
        .into_iter()
        .flat_map(|o| o.items)
        .map(|i| (i.item_id, i.sku))
        .collect())
}

/// One page of every RMA the stream wrote, keyed by its id.
pub fn reconcile(api: &Magento, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let page = listing::page(
        api,
        Scope::Store,
        "/returns",
        SearchCriteria::new(),
        cursor,
        limit,
        |returns: &[HeldRma]| {
            let skus = order_skus(api, returns)?;
            returns
                .iter()
                .filter_map(|rma| canonical(rma, &skus).map(|r| (rma.entity_id, r)))
                .map(|(id, back)| {
                    Ok(Row {
                        id,
                        sub: String::new(),
                        envelope: Envelope::upsert(RETURNS, &id.to_string(), &back, None)?,
                    })
                })
                .collect()
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Magento returns.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: &str) -> Return {
        serde_json::from_value(json!({
            "external_ref": "3pl:rma:RMA-1042-1", "order_id": "1042", "state": state,
            "lines": [
                {"sku": "TEE-M", "quantity": 2, "reason": "too small"},
                {"sku": "MUG", "quantity": 1}
            ]
        }))
        .unwrap()
    }

    fn order() -> MagentoOrder {
        serde_json::from_value(json!({
            "entity_id": 1042, "state": "complete", "status": "complete",
            "order_currency_code": "EUR", "updated_at": "2026-11-23 10:00:00",
            "items": [
                {"item_id": 1, "sku": "TEE-M", "product_type": "configurable", "qty_ordered": 2, "qty_shipped": 2},
                {"item_id": 2, "parent_item_id": 1, "sku": "TEE-M", "product_type": "simple", "qty_ordered": 2},
                {"item_id": 3, "sku": "MUG", "qty_ordered": 1, "qty_shipped": 1},
                {"item_id": 4, "sku": "MUG", "qty_ordered": 2, "qty_shipped": 2}
            ]
        }))
        .unwrap()
    }

    /// The RMA as Magento answers it once `body` (a create) was saved, with
    /// its system comment first.
    fn saved(body: &Value, status: &str) -> HeldRma {
        let mut rma = body["rmaDataObject"].clone();
        rma["entity_id"] = json!(7);
        rma["status"] = json!(status);
        for (at, item) in rma["items"].as_array_mut().unwrap().iter_mut().enumerate() {
            item["entity_id"] = json!(70 + at);
        }
        let ours = rma["comments"][0]["comment"].clone();
        rma["comments"] = json!([
            {"entity_id": 1, "comment": "We authorized your Return request.", "admin": true},
            {"entity_id": 2, "comment": ours, "admin": true}
        ]);
        serde_json::from_value(rma).unwrap()
    }

    #[test]
    fn a_return_becomes_one_rma_item_per_line_with_its_key_comment() {
        let lines = order_items(&record("requested"), &order()).unwrap();
        assert_eq!(lines, [1, 3], "the tee through its parent");
        assert_eq!(
            create(&record("requested"), 1042, &lines),
            json!({"rmaDataObject": {
                "order_id": 1042,
                "items": [
                    {"order_item_id": 1, "qty_requested": 2, "qty_authorized": 2, "qty_returned": 0,
                     "qty_approved": 0, "reason": "too small", "status": "authorized"},
                    {"order_item_id": 3, "qty_requested": 1, "qty_authorized": 1, "qty_returned": 0,
                     "qty_approved": 0, "status": "authorized"}
                ],
                "comments": [{"comment": "Tenon return 3pl:rma:RMA-1042-1",
                              "visible_on_front": false, "customer_notified": false}]
            }})
        );
    }

    #[test]
    fn each_state_moves_the_items_on_and_a_repeat_changes_nothing() {
        let lines = [1, 3];
        let held = saved(&create(&record("requested"), 1042, &lines), "authorized");
        assert!(
            update(&record("requested"), &held, &lines)
                .unwrap()
                .is_none(),
            "the same version again"
        );
        let mut approved = record("approved");
        approved.lines[0].disposition = Some("restock".into());
        approved.lines[1].disposition = Some("dispose".into());
        approved.location = Some("Berlin DC".into());
        let body = update(&approved, &held, &lines).unwrap().unwrap();
        let items = &body["rmaDataObject"]["items"];
        assert_eq!(
            items[0],
            json!({"entity_id": 70, "order_item_id": 1, "qty_requested": 2, "qty_authorized": 2,
                   "qty_returned": 2, "qty_approved": 2, "reason": "too small",
                   "condition": "restock", "resolution": "refund", "status": "approved"})
        );
        assert_eq!(
            (&items[1]["condition"], &items[1]["qty_approved"]),
            (&json!("dispose"), &json!(1))
        );
        assert_eq!(
            body["rmaDataObject"]["comments"][0]["comment"],
            "Tenon return 3pl:rma:RMA-1042-1\nLocation: Berlin DC"
        );
        let mut received = record("received");
        received.lines[0].reason = None;
        let body = update(&received, &held, &lines).unwrap().unwrap();
        assert_eq!(
            body["rmaDataObject"]["items"][0]["reason"], "too small",
            "what a version does not say stays"
        );
        assert_eq!(body["rmaDataObject"]["items"][1]["status"], "received");
        assert!(body["rmaDataObject"].get("comments").is_none());
    }

    #[test]
    fn closed_rmas_and_changed_lines_are_refused() {
        let lines = [1, 3];
        let closed = saved(&create(&record("rejected"), 1042, &lines), "closed");
        assert!(
            update(&record("rejected"), &closed, &lines)
                .unwrap()
                .is_none()
        );
        let refused = update(&record("approved"), &closed, &lines).unwrap_err();
        assert!(
            refused.message().contains("RMA 7 is `closed`"),
            "{}",
            refused.message()
        );
        let changed = update(&record("received"), &closed, &[1, 4]).unwrap_err();
        assert!(changed.message().contains("Magento keeps an RMA's items"));
    }

    #[test]
    fn lines_the_order_does_not_have_are_refused() {
        let mut stranger = record("requested");
        stranger.lines[1].sku = "HAT".into();
        assert!(
            order_items(&stranger, &order())
                .unwrap_err()
                .message()
                .contains("order 1042 has no line with sku `HAT`")
        );
        let mut many = record("requested");
        many.lines[1].quantity = 2;
        assert_eq!(
            order_items(&many, &order()).unwrap(),
            [1, 4],
            "the mug line with 2 ordered"
        );
        many.lines.push(ReturnLine {
            sku: "MUG".into(),
            quantity: 2,
            disposition: None,
            reason: None,
        });
        assert_eq!(
            order_items(&many, &order()).unwrap_err().message(),
            "sku `MUG`: the return has 4, but order 1042 has 3 of it"
        );
        let mut none = record("requested");
        none.lines[0].quantity = 0;
        assert!(check(&none).is_err());
        let mut unknown = record("lost");
        assert!(
            check(&unknown)
                .unwrap_err()
                .message()
                .contains("state `lost`")
        );
        unknown.state = "received".into();
        unknown.lines[0].disposition = Some("resell".into());
        assert!(check(&unknown).unwrap_err().message().contains("`resell`"));
    }

    #[test]
    fn a_child_sku_finds_its_configurable_line() {
        let order: MagentoOrder = serde_json::from_value(json!({
            "entity_id": 7, "updated_at": "2026-11-23 10:00:00",
            "items": [
                {"item_id": 1, "sku": "TEE", "product_type": "configurable", "qty_ordered": 1},
                {"item_id": 2, "parent_item_id": 1, "sku": "TEE-M", "qty_ordered": 1}
            ]
        }))
        .unwrap();
        let mut tee = record("requested");
        tee.lines = vec![ReturnLine {
            sku: "TEE-M".into(),
            quantity: 1,
            disposition: None,
            reason: None,
        }];
        assert_eq!(order_items(&tee, &order).unwrap(), [1]);
    }

    #[test]
    fn an_rma_reads_back_as_the_return_written() {
        let lines = [1, 3];
        let mut approved = record("approved");
        approved.lines[0].disposition = Some("restock".into());
        approved.location = Some("Berlin DC".into());
        let mut held = saved(&create(&approved, 1042, &lines), "processed_closed");
        let skus = HashMap::from([(1, "TEE-M".to_owned()), (3, "MUG".to_owned())]);
        assert_eq!(canonical(&held, &skus), Some(approved.clone()));
        let comments = held.comments.get_or_insert_default();
        comments.push(Comment {
            entity_id: 9,
            comment: Some(comment_text("3pl:rma:RMA-1042-1", Some("Hamburg DC"))),
        });
        assert_eq!(
            canonical(&held, &skus).unwrap().location.as_deref(),
            Some("Hamburg DC"),
            "the newest location"
        );
        held.comments
            .get_or_insert_default()
            .retain(|c| c.entity_id == 1);
        assert_eq!(canonical(&held, &skus), None, "not written by the stream");
        assert_eq!(state("received_on_item"), "received");
        assert_eq!(state("partially_authorized"), "requested");
        assert_eq!(state("closed"), "rejected");
        assert_eq!(parse("Tenon return a:b"), Some(("a:b", None)));
        assert_eq!(parse("We received your Return request."), None);
        let nulls: HeldRma = serde_json::from_value(
            json!({"entity_id": 1, "order_id": 2, "items": null, "comments": null}),
        )
        .unwrap();
        assert!(nulls.items.is_empty() && keyed(&nulls).is_none());
        let refused = keyed_to(vec![nulls], 2, "3pl:rma:RMA-1042-1").unwrap_err();
        assert!(
            refused
                .message()
                .contains("RMA 1 of order 2 without its comments"),
            "never a second RMA for a return Magento may hold"
        );
        let ours = saved(&create(&approved, 1042, &lines), "processed_closed");
        let found = keyed_to(vec![held, ours], 1042, "3pl:rma:RMA-1042-1").unwrap();
        assert_eq!(
            found.map(|rma| rma.comments.map_or(0, |c| c.len())),
            Some(2),
            "the RMA with the key comment, not the one without"
        );
        let other = saved(&create(&approved, 1042, &lines), "processed_closed");
        assert!(
            keyed_to(vec![other], 1042, "3pl:rma:RMA-1042-2")
                .unwrap()
                .is_none()
        );
    }
}
