//! The `order-states` stream: what the ERP or the storefront says of an order
//! (canonical [`OrderState`], `order_id` = the storefront's order id), applied
//! as ShipStation holds, and listed for `reconcile`.
//!
//! The order is found by its `orderKey`, `reference_prefix` + `order_id`
//! (`shop:1001`, as `fulfilment-orders` wrote it), with `GET
//! /orders?orderNumber=` (a "starts with" search, so the key is compared
//! exactly).
//!
//! | `state` | ShipStation |
//! |---|---|
//! | `on_hold` | `POST /orders/holduntil` `{orderId, holdUntilDate}`: today (UTC) + config `hold_days`, or [`FAR_HOLD_DATE`] without it (held until released); an order already `on_hold` is left as it is; a `shipped` or `cancelled` one is a permanent error |
//! | `released` | `POST /orders/restorefromhold` `{orderId}` for an `on_hold` order; any other open or shipped order is left as it is; a `cancelled` one is a permanent error |
//! | `invoiced`, `shipped` | nothing: the warehouse has nothing to do with them (the outcome carries no id) |
//! | `cancelled` | a permanent error: a 3PL order is cancelled through `fulfilment-orders` (status `cancelled`), which also tells the warehouse what to do with it |
//!
//! ShipStation keeps no note with a hold: `note` is not sent. An order the
//! warehouse does not have (yet: its `fulfilment-orders` record may still be on
//! its way) is a retryable error; a delete is permanent. A record delivered
//! twice changes nothing: the second finds the order held (or released)
//! already. The outcome is the `orderId`.
//!
//! `reconcile` lists every order of the storefront (its key has the prefix),
//! keyed by `orderId`, as `{order_id, state}`: `on_hold` for an order
//! `on_hold`, `cancelled` for a cancelled one, else `released`. An order whose
//! hold date has come is `released` again, as ShipStation released it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;
use tenon_sdk::canonical::OrderState;
use tenon_sdk::prelude::*;

use crate::{MAX_PAGE, ORDER_STATES, api, send};

/// The `holdUntilDate` of a hold without `hold_days`: far enough to mean
/// "until released".
pub const FAR_HOLD_DATE: &str = "2099-12-31";

/// The most days `hold_days` may say (about 27 years: past that, use no
/// `hold_days` and release by record).
const MAX_HOLD_DAYS: u32 = 10_000;

/// The default `reference_prefix`, `order-to-sale`'s.
pub const DEFAULT_PREFIX: &str = "shop:";

/// One answer of `GET /orders`: the fields holds need.
#[derive(Debug, Deserialize)]
struct OrderPage {
    orders: Vec<HeldOrder>,
    #[serde(default)]
    page: u32,
    #[serde(default)]
    pages: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeldOrder {
    order_id: u64,
    order_key: String,
    order_status: String,
}

/// What one record asks of ShipStation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Hold,
    Restore,
    /// The order is as the record says already.
    Nothing,
}

/// Applies each record; the outcome is the `orderId`.
pub fn write(batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    let api = api()?;
    let prefix = prefix();
    let hold_until = hold_until_date(config::value::<Option<u32>>("hold_days")?, today())
        .map_err(Error::permanent)?;
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent(
                "order states cannot be deleted; send state `released` to lift a hold",
            ));
        }
        let wanted: OrderState = delivery.json()?;
        match wanted.state.as_str() {
            "on_hold" | "released" => {}
            "invoiced" | "shipped" => {
                log::info(format!(
                    "order={} state={} Nothing for the warehouse to do.",
                    wanted.order_id, wanted.state
                ));
                return Ok(None);
            }
            "cancelled" => {
                return Err(Error::permanent(
                    "a 3PL order is cancelled through stream `fulfilment-orders` (status `cancelled`), not `order-states`",
                ));
            }
            other => {
                return Err(Error::permanent(format!(
                    "state `{other}` is not one of on_hold, released, invoiced, shipped, cancelled"
                )));
            }
        }
        let key = format!("{prefix}{}", wanted.order_id);
        let order = find(&api, &key)?.ok_or_else(|| {
            Error::retryable(format!(
                "the warehouse has no order `{key}` (yet): it may still be on its way through `fulfilment-orders`"
            ))
        })?;
        let step = plan(&wanted.state, &order.order_status)
            .map_err(|e| Error::permanent(format!("order `{key}` {e}")))?;
        match step {
            Step::Hold => {
                send(
                    api.post("/orders/holduntil")
                        .json(&json!({"orderId": order.order_id, "holdUntilDate": hold_until}))?,
                )?;
                log::info(format!(
                    "order={key} until={hold_until} Held at the warehouse."
                ));
            }
            Step::Restore => {
                send(
                    api.post("/orders/restorefromhold")
                        .json(&json!({"orderId": order.order_id}))?,
                )?;
                log::info(format!("order={key} Released at the warehouse."));
            }
            Step::Nothing => {}
        }
        Ok(Some(order.order_id.to_string()))
    }))
}

/// What `state` asks of an order ShipStation has in `status`.
fn plan(state: &str, status: &str) -> Result<Step, String> {
    match (state, status) {
        (_, "cancelled") => Err(format!(
            "is cancelled at the warehouse; it cannot be {}",
            if state == "on_hold" {
                "held"
            } else {
                "released"
            }
        )),
        ("on_hold", "on_hold") => Ok(Step::Nothing),
        ("on_hold", "shipped") => Err("has shipped already: too late to hold it".to_owned()),
        ("on_hold", _) => Ok(Step::Hold),
        ("released", "on_hold") => Ok(Step::Restore),
        ("released", _) => Ok(Step::Nothing),
        (other, _) => Err(format!("has no hold step for state `{other}`")),
    }
}

/// The order of `order_key`, if the warehouse has it.
fn find(api: &Client, order_key: &str) -> Result<Option<HeldOrder>, Error> {
    let answer: OrderPage = send(
        api.get("/orders")
            .query("orderNumber", order_key)
            .query("pageSize", &MAX_PAGE.to_string()),
    )?
    .json()?;
    Ok(answer.orders.into_iter().find(|o| o.order_key == order_key))
}

/// One page of the storefront's orders as `order-states`, by `orderId`, after
/// the `orderId` in `cursor`.
pub fn reconcile(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let after: u64 = match cursor {
        None => 0,
        Some(text) => text
            .parse()
            .map_err(|_| Error::permanent(format!("cursor `{text}` is not an order id")))?,
    };
    let api = api()?;
    let prefix = prefix();
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let mut listed: Vec<(u64, OrderState)> = Vec::new();
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
        listed.extend(
            answer
                .orders
                .iter()
                .filter(|o| o.order_id > after)
                .filter_map(|o| state_of(o, &prefix).map(|state| (o.order_id, state))),
        );
        if last || listed.len() > limit {
            break;
        }
    }
    listed.sort_by_key(|(id, _)| *id);
    let more = listed.len() > limit;
    listed.truncate(limit);
    let records = listed
        .iter()
        .map(|(id, state)| Envelope::upsert(ORDER_STATES, &id.to_string(), state, None))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Page {
        next_cursor: listed.last().map(|(id, _)| id.to_string()),
        more,
        records,
    })
}

/// The `order-states` payload of an order, `None` for another storefront's.
fn state_of(order: &HeldOrder, prefix: &str) -> Option<OrderState> {
    let order_id = order.order_key.strip_prefix(prefix)?;
    if order_id.is_empty() {
        return None;
    }
    let state = match order.order_status.as_str() {
        "on_hold" => "on_hold",
        "cancelled" => "cancelled",
        _ => "released",
    };
    Some(OrderState {
        order_id: order_id.to_owned(),
        state: state.to_owned(),
        note: None,
    })
}

fn prefix() -> String {
    config::get("reference_prefix").unwrap_or_else(|| DEFAULT_PREFIX.to_owned())
}

/// Days since 1970-01-01 (UTC), from the clock the host gives the plugin.
fn today() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(0)
}

/// The `holdUntilDate` to send: `today` (days since the epoch) plus
/// `hold_days`, or [`FAR_HOLD_DATE`] without it.
fn hold_until_date(hold_days: Option<u32>, today: i64) -> Result<String, String> {
    match hold_days {
        None => Ok(FAR_HOLD_DATE.to_owned()),
        Some(0) => Err(
            "config key `hold_days`: 0 is not a hold (ShipStation holds until a later date)"
                .to_owned(),
        ),
        Some(days) if days > MAX_HOLD_DAYS => Err(format!(
            "config key `hold_days`: {days} is more than {MAX_HOLD_DAYS}; leave it unset to hold until released"
        )),
        Some(days) => Ok(date(today + i64::from(days))),
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01, in the proleptic Gregorian
/// calendar (by 400-year eras of 146,097 days).
fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_count_into_calendar_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(59), "1970-03-01");
        assert_eq!(date(11_016), "2000-02-29", "a leap day of a century year");
        assert_eq!(date(11_017), "2000-03-01");
        assert_eq!(date(20_415), "2025-11-23");
        assert_eq!(date(20_453), "2025-12-31");
        assert_eq!(date(20_454), "2026-01-01");
        assert_eq!(date(-1), "1969-12-31");
    }

    #[test]
    fn hold_days_count_from_today_and_none_holds_until_released() {
        assert_eq!(hold_until_date(None, 20_415).unwrap(), FAR_HOLD_DATE);
        assert_eq!(hold_until_date(Some(7), 20_415).unwrap(), "2025-11-30");
        assert_eq!(hold_until_date(Some(40), 20_415).unwrap(), "2026-01-02");
        assert!(
            hold_until_date(Some(0), 20_415)
                .unwrap_err()
                .contains("not a hold")
        );
        assert!(hold_until_date(Some(MAX_HOLD_DAYS + 1), 20_415).is_err());
    }

    #[test]
    fn holds_and_releases_act_only_where_the_order_needs_it() {
        assert_eq!(plan("on_hold", "awaiting_shipment"), Ok(Step::Hold));
        assert_eq!(plan("on_hold", "awaiting_payment"), Ok(Step::Hold));
        assert_eq!(
            plan("on_hold", "on_hold"),
            Ok(Step::Nothing),
            "held already"
        );
        assert_eq!(plan("released", "on_hold"), Ok(Step::Restore));
        assert_eq!(plan("released", "awaiting_shipment"), Ok(Step::Nothing));
        assert_eq!(plan("released", "shipped"), Ok(Step::Nothing));
        let late = plan("on_hold", "shipped").unwrap_err();
        assert!(late.contains("too late"), "{late}");
        for state in ["on_hold", "released"] {
            let cancelled = plan(state, "cancelled").unwrap_err();
            assert!(
                cancelled.contains("cancelled at the warehouse"),
                "{cancelled}"
            );
        }
    }

    #[test]
    fn listed_orders_reconcile_as_held_released_or_cancelled() {
        let order = |key: &str, status: &str| HeldOrder {
            order_id: 1,
            order_key: key.into(),
            order_status: status.into(),
        };
        let state = |key, status| state_of(&order(key, status), "shop:").map(|s| s.state);
        assert_eq!(state("shop:1", "on_hold").as_deref(), Some("on_hold"));
        assert_eq!(
            state("shop:1", "awaiting_shipment").as_deref(),
            Some("released")
        );
        assert_eq!(state("shop:1", "shipped").as_deref(), Some("released"));
        assert_eq!(state("shop:1", "cancelled").as_deref(), Some("cancelled"));
        assert_eq!(
            state("pos:1", "on_hold"),
            None,
            "another storefront's order"
        );
        let payload = state_of(&order("shop:1001", "on_hold"), "shop:").unwrap();
        assert_eq!(
            serde_json::to_value(payload).unwrap(),
            json!({"order_id": "1001", "state": "on_hold"})
        );
    }
}
