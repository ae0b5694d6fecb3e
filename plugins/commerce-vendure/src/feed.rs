//! Changed-since reads over Vendure list queries (`orders`, `customers`), with a
//! [`Watermark`] over `(updatedAt, id)` as the cursor.
//!
//! Vendure filters `updatedAt` strictly (`after`) and its sqljs times have whole
//! seconds, so several records share a time. A read asks for the records updated
//! after one second before the watermark's time, sorted by `(updatedAt, id)`,
//! pages through them with `skip`, and keeps those after the watermark. Ids are
//! zero-padded in the cursor so that they compare as numbers, the order Vendure
//! sorts its integer ids in.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tenon_sdk::prelude::*;

use crate::graphql;

/// The most records one `read` returns; larger limits are lowered to this.
pub const MAX_PAGE: u32 = 100;

/// Records fetched per Admin API request while looking for new ones.
const FETCH: usize = 100;

/// Width ids are left-padded to in the cursor.
const ID_WIDTH: usize = 12;

/// A record of a changed-since list.
pub trait Changed {
    /// `(updatedAt, id)` as Vendure returns them.
    fn position(&self) -> (&str, &str);
}

/// Up to `limit` records of the list query `query` (field `list`, taking
/// `$options`) after `cursor`, oldest first; the watermark of `cursor`; and
/// whether more follow. The caller advances the watermark over what it keeps.
pub fn changed_since<T: Changed + DeserializeOwned>(
    query: &str,
    list: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<T>, Watermark, bool), Error> {
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let mark = Watermark::from_cursor(cursor);
    let filter = if mark.time.is_empty() {
        json!({})
    } else {
        let after = tenon_sdk::cursor::second_before(&mark.time)
            .map(|t| t.rfc3339())
            .ok_or_else(|| {
                Error::permanent(format!(
                    "cursor `{mark}` does not start with an RFC 3339 time"
                ))
            })?;
        json!({"updatedAt": {"after": after}})
    };

    // Fetch until one more than `limit` new records are known, or none are left.
    let mut fresh = Vec::new();
    let mut skip = 0;
    loop {
        let options = json!({
            "filter": filter,
            "sort": {"updatedAt": "ASC", "id": "ASC"},
            "skip": skip,
            "take": FETCH,
        });
        let mut data: Value = graphql::query(query, json!({ "options": options }))?;
        let items = Vec::<T>::deserialize(data[list]["items"].take()).map_err(|e| {
            Error::permanent(format!("Vendure's `{list}` have an unexpected shape: {e}"))
        })?;
        let fetched = items.len();
        fresh.extend(items.into_iter().filter(|r| {
            let (time, id) = r.position();
            mark.is_new(time, &padded(id))
        }));
        skip += fetched;
        if fetched < FETCH || fresh.len() > limit {
            break;
        }
    }
    let more = fresh.len() > limit;
    fresh.truncate(limit);
    Ok((fresh, mark, more))
}

/// The page of `records`, with the cursor of `mark` unless it is empty.
pub fn page(records: Vec<Envelope>, mark: &Watermark, more: bool) -> Page {
    Page {
        next_cursor: (!records.is_empty()).then(|| mark.encode()),
        more,
        records,
    }
}

/// An id as the cursor holds it.
pub fn padded(id: &str) -> String {
    format!("{id:0>ID_WIDTH$}")
}

#[cfg(test)]
mod tests {
    use super::padded;

    #[test]
    fn ids_in_the_cursor_compare_as_numbers() {
        assert!(padded("9") < padded("10"));
        assert_eq!(padded("42"), "000000000042");
    }
}
