//! Magento's asynchronous bulk API, for product batches above
//! `bulk_threshold`: one request queues every product (`POST
//! /rest/all/async/bulk/V1/products`, an array of `{"product": ...}`; see
//! [`Magento::post_bulk`] for the route), then `GET /V1/bulk/{uuid}/status`
//! is polled until no operation is open.
//!
//! Each operation's status is its record's outcome: 1 (complete) is done; 2
//! (failed, may be retried) is `retryable`; 3 (failed, must be changed) and
//! 5 (rejected) are `permanent`, quoting Magento's `result_message`; 4 is
//! open. A request item Magento rejected before queueing is `permanent`.
//! Polling is bounded by a deadline inside the call's wall clock: what is
//! still open then is `retryable`, and sending it again queues the same save
//! again, which is harmless (a product save is keyed by SKU). Magento runs the
//! operations only while its consumer `async.operations.all` runs.
//!
//! Operations are matched to the request's items by `id`, the item's index in
//! the request (Magento 2.4 numbers them so); when the ids are not those
//! indexes (older versions number them in the database), by their order.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::prelude::*;

use crate::rest::{Magento, Scope};

/// The first pause between two polls; each later one doubles, up to
/// [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);

/// The longest pause between two polls.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Magento's answer to a bulk request.
#[derive(Debug, Deserialize)]
struct Accepted {
    bulk_uuid: String,
    #[serde(default)]
    request_items: Vec<RequestItem>,
}

#[derive(Debug, Deserialize)]
struct RequestItem {
    id: u64,
    #[serde(default)]
    status: String,
    #[serde(default)]
    error_message: Option<String>,
}

/// `GET /V1/bulk/{uuid}/status`.
#[derive(Debug, Deserialize)]
struct BulkStatus {
    #[serde(default)]
    operations_list: Vec<Operation>,
}

#[derive(Debug, Clone, Deserialize)]
struct Operation {
    id: u64,
    status: u8,
    #[serde(default)]
    result_message: Option<String>,
}

/// Where one queued product stands.
#[derive(Debug, Clone, PartialEq)]
enum State {
    Open,
    Done(Result<(), Error>),
}

/// Saves `products` (Magento product objects) through the bulk API and
/// waits until `deadline` at most; one outcome per product, in order.
pub fn save(
    api: &Magento,
    products: &[Value],
    deadline: Instant,
) -> Result<Vec<Result<(), Error>>, Error> {
    let accepted: Accepted = api.post_bulk("/products", &bodies(products))?;
    let mut states = vec![State::Open; products.len()];
    for item in &accepted.request_items {
        if item.status == "rejected"
            && let Some(state) = usize::try_from(item.id)
                .ok()
                .and_then(|i| states.get_mut(i))
        {
            *state = State::Done(Err(Error::permanent(format!(
                "Magento rejected the product before queueing it: {}",
                item.error_message.as_deref().unwrap_or("no reason given")
            ))));
        }
    }
    log::info(format!(
        "bulk={} count={} Queued products in a Magento bulk.",
        accepted.bulk_uuid,
        products.len()
    ));
    let path = format!("/bulk/{}/status", http::path_segment(&accepted.bulk_uuid));
    let mut pause = FIRST_PAUSE;
    loop {
        let status: BulkStatus = api.get(Scope::Store, &path, &[])?;
        settle(&mut states, &status.operations_list);
        let open = states.iter().filter(|s| **s == State::Open).count();
        if open == 0 || Instant::now() + pause > deadline {
            if open > 0 {
                log::warn(format!(
                    "bulk={} open={open} Magento had not run every operation of the bulk in time.",
                    accepted.bulk_uuid
                ));
            }
            break;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_PAUSE);
    }
    let uuid = accepted.bulk_uuid;
    Ok(states
        .into_iter()
        .map(|state| match state {
            State::Done(outcome) => outcome,
            State::Open => Err(Error::retryable(format!(
                "Magento's bulk `{uuid}` still has this product open (is the consumer `async.operations.all` running?)"
            ))),
        })
        .collect())
}

/// Moves the open `states` to what `operations` say of them.
fn settle(states: &mut [State], operations: &[Operation]) {
    let by_index = operations
        .iter()
        .all(|op| usize::try_from(op.id).is_ok_and(|i| i < states.len()));
    let mut ordered: Vec<&Operation> = operations.iter().collect();
    ordered.sort_by_key(|op| op.id);
    for (position, op) in ordered.into_iter().enumerate() {
        let index = if by_index {
            usize::try_from(op.id).unwrap_or(usize::MAX)
        } else {
            position
        };
        if let Some(state) = states.get_mut(index)
            && *state == State::Open
        {
            *state = state_of(op);
        }
    }
}

/// What an operation's status means for its record.
fn state_of(op: &Operation) -> State {
    let message = || {
        op.result_message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "no message".to_owned())
    };
    match op.status {
        1 => State::Done(Ok(())),
        2 => State::Done(Err(Error::retryable(format!(
            "Magento's bulk operation failed, may be retried: {}",
            message()
        )))),
        3 | 5 => State::Done(Err(Error::permanent(format!(
            "Magento's bulk operation failed: {}",
            message()
        )))),
        4 => State::Open,
        other => State::Done(Err(Error::retryable(format!(
            "Magento's bulk operation has an unknown status {other}: {}",
            message()
        )))),
    }
}

/// The bodies Magento's bulk product endpoint takes: `{"product": ...}` each.
fn bodies(products: &[Value]) -> Vec<Value> {
    products.iter().map(|p| json!({ "product": p })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(list: Value) -> Vec<Operation> {
        serde_json::from_value(list).unwrap()
    }

    #[test]
    fn operation_statuses_become_record_outcomes() {
        let mut states = vec![State::Open; 5];
        settle(
            &mut states,
            &ops(json!([
                {"id": 0, "status": 1, "result_message": "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save", "error_code": null},
                {"id": 1, "status": 2, "result_message": "Deadlock found", "error_code": 0},
                {"id": 2, "status": 3, "result_message": "The value specified in the URL Key field would generate a URL that already exists.", "error_code": 0},
                {"id": 3, "status": 4, "result_message": null, "error_code": null},
                {"id": 4, "status": 5, "result_message": "Rejected", "error_code": null}
            ])),
        );
        assert_eq!(states[0], State::Done(Ok(())));
        assert!(
            matches!(&states[1], State::Done(Err(Error::Retryable(m))) if m.contains("Deadlock"))
        );
        assert!(
            matches!(&states[2], State::Done(Err(Error::Permanent(m))) if m.contains("URL Key"))
        );
        assert_eq!(states[3], State::Open, "still running: polled again");
        assert!(matches!(&states[4], State::Done(Err(Error::Permanent(_)))));
        // The next poll settles the open one, and leaves the others as they were.
        settle(
            &mut states,
            &ops(json!([{"id": 3, "status": 1}, {"id": 1, "status": 1}])),
        );
        assert_eq!(states[3], State::Done(Ok(())));
        assert!(matches!(states[1], State::Done(Err(_))));
    }

    #[test]
    fn operations_numbered_by_the_database_match_by_order() {
        let mut states = vec![State::Open; 2];
        settle(
            &mut states,
            &ops(
                json!([{"id": 9012, "status": 3, "result_message": "bad"}, {"id": 9011, "status": 1}]),
            ),
        );
        assert_eq!(
            states[0],
            State::Done(Ok(())),
            "the lower id is the first item"
        );
        assert!(matches!(states[1], State::Done(Err(Error::Permanent(_)))));
    }
}
