//! The `fulfilment-orders` stream: canonical sale orders in as ShipStation
//! orders (`POST /orders/createorder`), and back out of `GET /orders` for
//! reconciliation.
//!
//! A record becomes an order with `orderKey` = `orderNumber` = `external_ref`,
//! status `awaiting_shipment` (or `cancelled`), `billTo.name` = the customer's
//! name, `shipTo` from `ship_to` (two street lines; a third and further lines go
//! into the second, comma-separated, so they do not come back apart), amounts
//! in major units, and the currency in `advancedOptions.customField1` (ShipStation
//! orders have none). Reconciling lists every order, keyed by `orderId` (what a
//! write returns), rebuilt as the canonical payload: an order the warehouse has
//! shipped is still `open` (not cancelled).
//!
//! ShipStation locks shipped and cancelled orders: a `createorder` for one
//! changes nothing. An update of a shipped order (the shop changed it after
//! the parcel left) is then accepted as it stands; a cancellation of a shipped
//! order, or an open order the warehouse has cancelled, is a permanent error
//! for a person to resolve.

use serde::Deserialize;
use serde_json::json;
use tenon_sdk::canonical::{Address, SaleLine, SaleOrder};
use tenon_sdk::prelude::*;

use crate::{FULFILMENT_ORDERS, MAX_PAGE, api, send};

/// The part of ShipStation's answer to `createorder` the connector needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedOrder {
    order_id: u64,
    #[serde(default)]
    order_status: String,
}

/// One answer of `GET /orders`.
#[derive(Debug, Deserialize)]
struct OrderPage {
    orders: Vec<ListedOrder>,
    #[serde(default)]
    page: u32,
    #[serde(default)]
    pages: u32,
}

/// An order as `GET /orders` lists it: the fields the connector wrote.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedOrder {
    order_id: u64,
    order_key: String,
    order_status: String,
    #[serde(default)]
    customer_email: String,
    #[serde(default)]
    bill_to: ListedAddress,
    #[serde(default)]
    ship_to: ListedAddress,
    #[serde(default)]
    items: Vec<ListedItem>,
    #[serde(default)]
    amount_paid: f64,
    #[serde(default)]
    advanced_options: AdvancedOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ListedAddress {
    name: String,
    street1: String,
    street2: String,
    city: String,
    postal_code: String,
    country: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedItem {
    sku: String,
    quantity: i64,
    #[serde(default)]
    unit_price: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AdvancedOptions {
    custom_field1: Option<String>,
}

/// Creates or updates each record's order; the outcome is its `orderId`.
///
/// ShipStation takes no idempotency key, so a record the host attempted
/// before without learning the answer (it stopped, or the request timed out
/// after it may have reached ShipStation) is looked up first
/// ([`already_held`]): when ShipStation holds that very order, it is not sent
/// again.
pub fn write(batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    let api = api()?;
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent(
                "orders to fulfil cannot be deleted; send status `cancelled`",
            ));
        }
        let order: SaleOrder = delivery.json()?;
        let body = shipstation_order(&order, delivery.envelope.source_time.as_deref())?;
        if may_have_reached(delivery)
            && let Some(order_id) = already_held(&api, &order)?
        {
            return Ok(Some(order_id.to_string()));
        }
        let saved: SavedOrder = send(api.post("/orders/createorder").json(&body)?)?.json()?;
        locked_conflict(&order, &saved.order_status)?;
        Ok(Some(saved.order_id.to_string()))
    }))
}

/// Whether an earlier attempt of the delivery may have reached ShipStation:
/// one without an answer, or one that ended in a transient error (a timeout
/// among them). A refusal (a `4xx`, a `429`) changed nothing there.
fn may_have_reached(delivery: &Delivery) -> bool {
    attempts::earlier(delivery)
        .is_some_and(|earlier| matches!(earlier.answer, None | Some(Error::Retryable(_))))
}

/// The `orderId` of the order ShipStation holds for `order`, if it holds this
/// very version of it (as [`canonical_order`] reads it back). `GET
/// /orders?orderNumber=` matches order numbers that start with the one asked,
/// so the key is compared exactly.
fn already_held(api: &Client, order: &SaleOrder) -> Result<Option<u64>, Error> {
    let answer: OrderPage = send(
        api.get("/orders")
            .query("orderNumber", &order.external_ref)
            .query("pageSize", &MAX_PAGE.to_string()),
    )?
    .json()?;
    Ok(answer
        .orders
        .iter()
        .find(|held| held.order_key == order.external_ref)
        .filter(|held| canonical_order(held).as_ref() == Ok(order))
        .map(|held| held.order_id))
}

/// ShipStation locks shipped and cancelled orders: `createorder` leaves them as
/// they are. That is right for an order that changed in the shop after it was
/// shipped (the parcel is gone), but a cancellation that came too late, or an
/// order reopened after the warehouse cancelled it, needs a person.
fn locked_conflict(order: &SaleOrder, status: &str) -> Result<(), Error> {
    match (order.status.as_str(), status) {
        ("cancelled", "shipped") => Err(Error::permanent(format!(
            "order `{}` was cancelled in the shop but the warehouse has shipped it already",
            order.external_ref
        ))),
        ("open", "cancelled") => Err(Error::permanent(format!(
            "order `{}` is cancelled at the warehouse, which does not reopen orders; \
             create it again there or cancel it in the shop",
            order.external_ref
        ))),
        _ => Ok(()),
    }
}

/// One page of every order, by `orderId`, after the `orderId` in `cursor`.
pub fn reconcile(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let after: u64 = match cursor {
        None => 0,
        Some(text) => text
            .parse()
            .map_err(|_| Error::permanent(format!("cursor `{text}` is not an order id")))?,
    };
    let api = api()?;
    let mut listed = Vec::new();
    for page in 1..=u32::MAX {
        let answer: OrderPage = send(
            api.get("/orders")
                .query("sortBy", "OrderId")
                .query("sortDir", "ASC")
                .query("page", &page.to_string())
                .query("pageSize", &MAX_PAGE.to_string()),
        )?
        .json()?;
        let last = answer.orders.is_empty() || answer.page >= answer.pages;
        listed.extend(answer.orders.into_iter().filter(|o| o.order_id > after));
        if last || listed.len() > limit as usize {
            break;
        }
    }
    listed.sort_by_key(|o| o.order_id);
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let more = listed.len() > limit;
    listed.truncate(limit);
    let records = listed
        .iter()
        .map(|order| {
            let id = order.order_id.to_string();
            let payload =
                canonical_order(order).map_err(|e| Error::permanent(format!("order {id}: {e}")))?;
            Envelope::upsert(FULFILMENT_ORDERS, &id, &payload, None)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Page {
        next_cursor: listed.last().map(|o| o.order_id.to_string()),
        more,
        records,
    })
}

/// The canonical payload a listed order was written from.
fn canonical_order(order: &ListedOrder) -> Result<SaleOrder, String> {
    let currency = order
        .advanced_options
        .custom_field1
        .clone()
        .filter(|c| !c.is_empty())
        .ok_or("no currency in advancedOptions.customField1: not written by Tenon")?;
    let exponent = money::exponent(&currency);
    let minor = |amount: f64| money::parse(&format!("{amount:.*}", exponent as usize), exponent);
    let lines = order
        .items
        .iter()
        .map(|item| {
            Ok(SaleLine {
                sku: item.sku.clone(),
                quantity: item.quantity,
                unit_price_cents: minor(item.unit_price)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let ship = &order.ship_to;
    let ship_to = (!ship.street1.is_empty()).then(|| Address {
        name: ship.name.clone(),
        street: [ship.street1.as_str(), ship.street2.as_str()]
            .into_iter()
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        city: ship.city.clone(),
        postal_code: ship.postal_code.clone(),
        country: ship.country.clone(),
    });
    Ok(SaleOrder {
        external_ref: order.order_key.clone(),
        customer_email: order.customer_email.clone(),
        customer_name: order.bill_to.name.clone(),
        currency,
        lines,
        total_cents: minor(order.amount_paid)?,
        status: if order.order_status == "cancelled" {
            "cancelled"
        } else {
            "open"
        }
        .to_owned(),
        ship_to,
    })
}

/// The `createorder` body for a `sale-orders` payload.
fn shipstation_order(
    order: &SaleOrder,
    order_date: Option<&str>,
) -> Result<serde_json::Value, Error> {
    let status = match order.status.as_str() {
        "open" => "awaiting_shipment",
        "cancelled" => "cancelled",
        other => {
            return Err(Error::permanent(format!(
                "status `{other}` is neither `open` nor `cancelled`"
            )));
        }
    };
    if order.lines.is_empty() {
        return Err(Error::permanent(
            "an order to fulfil needs at least one line",
        ));
    }
    let exponent = money::exponent(&order.currency);
    let items: Vec<serde_json::Value> = order
        .lines
        .iter()
        .map(|line| {
            json!({
                "sku": line.sku,
                "quantity": line.quantity,
                "unitPrice": amount(line.unit_price_cents, exponent),
            })
        })
        .collect();
    let ship_to = match &order.ship_to {
        Some(address) => ship_to(address),
        None => json!({"name": order.customer_name}),
    };
    Ok(json!({
        "orderNumber": order.external_ref,
        "orderKey": order.external_ref,
        "orderDate": order_date.unwrap_or_default(),
        "orderStatus": status,
        "customerEmail": order.customer_email,
        "billTo": {"name": order.customer_name},
        "shipTo": ship_to,
        "items": items,
        "amountPaid": amount(order.total_cents, exponent),
        // ShipStation orders have no currency; reconcile needs it back.
        "advancedOptions": {"customField1": order.currency},
    }))
}

/// ShipStation's address: two street lines (a third and further lines go into
/// the second, comma-separated), country as ISO alpha-2.
fn ship_to(address: &Address) -> serde_json::Value {
    let mut lines = address
        .street
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let street1 = lines.next().unwrap_or_default();
    let street2 = lines.collect::<Vec<_>>().join(", ");
    json!({
        "name": address.name,
        "street1": street1,
        "street2": street2,
        "city": address.city,
        "postalCode": address.postal_code,
        "country": address.country,
    })
}

/// ShipStation takes amounts as JSON numbers in major units. The decimal text
/// is exact; the JSON number is the nearest double, as ShipStation stores it.
fn amount(minor: i64, exponent: u32) -> serde_json::Value {
    let text = money::format(minor, exponent);
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sale_orders_become_shipstation_orders() {
        let order: SaleOrder = serde_json::from_value(json!({
            "external_ref": "shop:1001", "customer_email": "ada@example.com",
            "customer_name": "Ada Lovelace", "currency": "EUR",
            "lines": [{"sku": "TEE", "quantity": 2, "unit_price_cents": 1990}],
            "total_cents": 3980, "status": "open"
        }))
        .unwrap();
        let body = shipstation_order(&order, Some("2026-11-23T10:00:00Z")).unwrap();
        assert_eq!(body["orderKey"], "shop:1001");
        assert_eq!(body["orderStatus"], "awaiting_shipment");
        assert_eq!(body["items"][0]["unitPrice"], 19.9);
        assert_eq!(body["amountPaid"], 39.8);
        assert_eq!(body["shipTo"], json!({"name": "Ada Lovelace"}));
    }

    #[test]
    fn the_ship_to_address_and_minor_units_follow_shipstations_shape() {
        let order: SaleOrder = serde_json::from_value(json!({
            "external_ref": "jp:7", "customer_email": "kei@example.jp",
            "customer_name": "Kei", "currency": "JPY",
            "lines": [{"sku": "CUP", "quantity": 3, "unit_price_cents": 1500}],
            "total_cents": 4500, "status": "open",
            "ship_to": {"name": "Kei Tanaka", "street": "1-2-3 Ginza\nBuilding 4\nFloor 5",
                        "city": "Tokyo", "postal_code": "104-0061", "country": "JP"}
        }))
        .unwrap();
        let body = shipstation_order(&order, None).unwrap();
        assert_eq!(body["items"][0]["unitPrice"], 1500);
        assert_eq!(body["amountPaid"], 4500);
        assert_eq!(
            body["shipTo"],
            json!({"name": "Kei Tanaka", "street1": "1-2-3 Ginza", "street2": "Building 4, Floor 5",
                   "city": "Tokyo", "postalCode": "104-0061", "country": "JP"})
        );
    }

    #[test]
    fn a_listed_order_gives_back_the_payload_it_was_written_from() {
        let order: SaleOrder = serde_json::from_value(json!({
            "external_ref": "shop:9", "customer_email": "ada@example.com",
            "customer_name": "Ada Lovelace", "currency": "EUR",
            "lines": [{"sku": "TEE", "quantity": 3, "unit_price_cents": 1990},
                      {"sku": "MUG", "quantity": 1, "unit_price_cents": 1250}],
            "total_cents": 7220, "status": "open",
            "ship_to": {"name": "Ada", "street": "1 Main St\nFlat 2", "city": "Berlin",
                        "postal_code": "10115", "country": "DE"}
        }))
        .unwrap();
        let mut body = shipstation_order(&order, None).unwrap();
        // What the warehouse lists: the body, its id and a later status.
        body["orderId"] = json!(7);
        body["orderStatus"] = json!("shipped");
        let listed: ListedOrder = serde_json::from_value(body).unwrap();
        assert_eq!(canonical_order(&listed), Ok(order));
    }
}
