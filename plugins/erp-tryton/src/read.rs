//! Changed-since reads of `products` and `customers` with a [`Watermark`].
//!
//! Tryton filters by time only (`>=`, to the second) and `write_date` is empty
//! until a record's first write, so a record's position is the newest of its
//! create and write dates (for a product also its template's write date: name
//! and list price live on `product.template`), and the read asks for
//! `OR(create_date >= T, write_date >= T, ...)` from the watermark's second,
//! then keeps the records after the watermark, sorted by `(time, id)`.

use serde_json::{Map, Value, json};
use tenon_sdk::prelude::*;

use crate::rpc::Tryton;
use crate::value;

/// The most records one read returns.
const MAX_PAGE: u32 = 500;

/// What a stream reads from Tryton.
pub struct Source {
    /// The stream's name.
    pub stream: &'static str,
    /// The Tryton model.
    pub model: &'static str,
    /// Fields to read besides the dates.
    pub fields: &'static [&'static str],
    /// Datetime fields whose newest value is the record's position; dotted
    /// fields (`template.write_date`) are a related record's.
    pub times: &'static [&'static str],
    /// The payload of a row, given its time.
    pub payload: fn(&Map<String, Value>, &str) -> Value,
}

/// `product.product`, with the template's name and list price.
pub static PRODUCT_SOURCE: Source = Source {
    stream: crate::PRODUCTS,
    model: "product.product",
    fields: &["code", "name", "list_price_used", "active"],
    times: &["create_date", "write_date", "template.write_date"],
    payload: |row, time| {
        json!({
            "id": row.get("id"),
            "code": row.get("code"),
            "name": row.get("name"),
            // The variant's own price if it has one, else its template's.
            "list_price": row.get("list_price_used").and_then(value::decimal),
            "active": active(row),
            "updated_at": time,
        })
    },
};

/// `party.party`, with its first e-mail.
pub static CUSTOMER_SOURCE: Source = Source {
    stream: crate::CUSTOMERS,
    model: "party.party",
    fields: &["code", "name", "email", "active"],
    times: &["create_date", "write_date"],
    payload: |row, time| {
        let email = row
            .get("email")
            .and_then(Value::as_str)
            .filter(|email| !email.is_empty());
        json!({
            "id": row.get("id"),
            "code": row.get("code"),
            "name": row.get("name"),
            "email": email,
            "active": active(row),
            "updated_at": time,
        })
    },
};

/// `sale.sale`: its reference, state, and shipment and invoice states.
pub static SALE_SOURCE: Source = Source {
    stream: crate::SALES,
    model: "sale.sale",
    fields: &[
        "number",
        "reference",
        "state",
        "shipment_state",
        "invoice_state",
        "total_amount",
        "party",
    ],
    times: &["create_date", "write_date"],
    payload: |row, time| {
        json!({
            "id": row.get("id"),
            "number": row.get("number"),
            "reference": row.get("reference"),
            "state": row.get("state"),
            "shipment_state": row.get("shipment_state"),
            "invoice_state": row.get("invoice_state"),
            "total_amount": row.get("total_amount").and_then(value::decimal),
            "party_id": row.get("party"),
            "updated_at": time,
        })
    },
};

/// The search domain of records with any of the date `fields` at or after the
/// watermark's second (everything from the start); the watermark's key skips
/// those already delivered in that second.
pub fn changed_domain(mark: &Watermark, fields: &[&str]) -> Result<Value, Error> {
    if mark.is_start() {
        return Ok(json!([]));
    }
    let since = value::datetime_value(&mark.time).ok_or_else(|| {
        Error::permanent(format!(
            "cursor `{mark}` is not `YYYY-MM-DDTHH:MM:SS...|key`"
        ))
    })?;
    let mut domain = vec![json!("OR")];
    domain.extend(fields.iter().map(|field| json!([field, ">=", since])));
    Ok(Value::Array(domain))
}

/// One page of `source` after `cursor`, at most `limit` records.
pub fn changed_since(
    tryton: &Tryton,
    source: &Source,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page, Error> {
    let mark = Watermark::from_cursor(cursor);
    let domain = changed_domain(&mark, source.times)?;
    let mut fields: Vec<&str> = source.fields.to_vec();
    fields.extend(source.times);
    let rows = tryton.search_read(source.model, domain, None, json!([["id", "ASC"]]), &fields)?;

    let mut fresh = Vec::new();
    for row in rows {
        let Value::Object(row) = row else { continue };
        let Some(id) = row.get("id").and_then(Value::as_i64) else {
            continue;
        };
        let Some(time) = newest(&row, source.times) else {
            continue;
        };
        let key = position_key(id);
        if mark.is_new(&time, &key) {
            let payload = (source.payload)(&row, &time);
            fresh.push(Fresh {
                time,
                position: key,
                key: id.to_string(),
                payload,
            });
        }
    }
    page(source.stream, mark, fresh, limit, "records")
}

/// A record found changed since the cursor: where it sits in the feed (its
/// time, then `position` among records of one time) and what it is.
#[derive(Debug)]
pub struct Fresh<T> {
    pub time: String,
    pub position: String,
    pub key: String,
    pub payload: T,
}

impl<T> Fresh<T> {
    /// A record whose key is its position.
    pub fn keyed(time: String, key: String, payload: T) -> Self {
        Fresh {
            time,
            position: key.clone(),
            key,
            payload,
        }
    }
}

/// The first `limit` (at most [`MAX_PAGE`]) of `fresh` in feed order, as a
/// page of `stream` after `mark`, logged as changed `what`.
pub fn page<T: serde::Serialize>(
    stream: &str,
    mut mark: Watermark,
    mut fresh: Vec<Fresh<T>>,
    limit: u32,
    what: &str,
) -> Result<Page, Error> {
    fresh.sort_by(|a, b| (&a.time, &a.position).cmp(&(&b.time, &b.position)));
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let more = fresh.len() > limit;
    fresh.truncate(limit);
    let mut records = Vec::with_capacity(fresh.len());
    for record in &fresh {
        records.push(Envelope::upsert(
            stream,
            &record.key,
            &record.payload,
            Some(&record.time),
        )?);
        mark.advance(&record.time, &record.position);
    }
    log::info(format!(
        "stream={stream} count={} more={more} cursor={mark} Read changed {what}.",
        records.len()
    ));
    Ok(Page {
        next_cursor: (!records.is_empty()).then(|| mark.encode()),
        more,
        records,
    })
}

/// Whether the record is active (SQLite answers 0 or 1).
fn active(row: &Map<String, Value>) -> bool {
    match row.get("active") {
        Some(Value::Bool(active)) => *active,
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        _ => true,
    }
}

/// The id as the watermark's key: zero-padded, so that ids compare as text.
fn position_key(id: i64) -> String {
    format!("{id:012}")
}

/// A row Tryton answered as a map of its fields (an empty one if it is no object).
pub fn object(row: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    row.as_object()
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// The newest of the datetime `fields` of a row, as text; `None` if it has none.
pub fn newest(row: &Map<String, Value>, fields: &[&str]) -> Option<String> {
    fields.iter().filter_map(|name| field(row, name)).max()
}

/// The datetime `name` of a row as text; `template.write_date` is read from the
/// nested `template.` object Tryton answers for dotted fields.
pub fn field(row: &Map<String, Value>, name: &str) -> Option<String> {
    if let Some(found) = row.get(name) {
        return value::datetime(found);
    }
    let (relation, rest) = name.split_once('.')?;
    let nested = row.get(&format!("{relation}."))?.as_object()?;
    field(nested, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: u64) -> Value {
        json!({"__class__": "datetime", "year": 2026, "month": 11, "day": 23,
            "hour": 10, "minute": 0, "second": second, "microsecond": 0})
    }

    #[test]
    fn a_products_position_includes_its_templates_changes() {
        let row = json!({"id": 7, "create_date": at(1), "write_date": null,
            "template.": {"id": 3, "write_date": at(9)}});
        let row = row.as_object().unwrap();
        let time = newest(row, PRODUCT_SOURCE.times);
        assert_eq!(time.as_deref(), Some("2026-11-23T10:00:09.000000Z"));
    }

    #[test]
    fn position_keys_sort_like_ids() {
        assert!(position_key(9) < position_key(10));
    }
}
