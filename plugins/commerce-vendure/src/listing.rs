//! Whole-store listings for `reconcile`: every item of a Vendure list query in
//! id order, each expanded into zero or more records, paged with a cursor.
//!
//! Vendure lists page by offset (`skip`/`take`) and cannot filter ids by range,
//! so the cursor `<skip>:<item id>:<sub id>` holds both the offset of the item
//! the last record came from and that record's position (ids zero-padded so that
//! they compare as numbers). A page starts at the offset, steps back while the
//! first item there is already past the position (items were deleted in
//! between), and leaves out what is at or before the position. Vendure's ids
//! grow, so items created meanwhile come last and are listed too.
//!
//! Each call walks from the cursor until one record more than the page holds is
//! found; the records of one item (a variant's stock levels, an order's
//! fulfilments) are sorted by their sub id. A listing may keep to the items a
//! filter selects (customers with an account code) and run in a channel other
//! than the default one (a B2B channel's variants).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tenon_sdk::prelude::*;

use crate::{feed, graphql};

/// Items fetched per Admin API request.
const FETCH: usize = 100;

/// Where the last record of a page was.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    skip: usize,
    item: String,
    sub: String,
}

impl Position {
    fn encode(&self) -> String {
        format!("{}:{}:{}", self.skip, self.item, self.sub)
    }

    fn decode(cursor: &str) -> Result<Position, Error> {
        let mut parts = cursor.splitn(3, ':');
        let (Some(skip), Some(item), Some(sub)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::permanent(format!(
                "reconcile cursor `{cursor}` is not `<skip>:<id>:<sub id>`"
            )));
        };
        let skip = skip
            .parse()
            .map_err(|_| Error::permanent(format!("reconcile cursor `{cursor}` has no offset")))?;
        Ok(Position {
            skip,
            item: item.to_owned(),
            sub: sub.to_owned(),
        })
    }
}

/// A list query to page through: `query` (taking `$options`) answers with
/// `list { items }`, keeping to `filter`, in the channel whose token is
/// `channel` (the default channel for `None`).
pub struct Listed<'a> {
    query: &'a str,
    list: &'a str,
    filter: Value,
    channel: Option<&'a str>,
}

impl<'a> Listed<'a> {
    /// Every item of `list`, in the default channel.
    pub fn new(query: &'a str, list: &'a str) -> Self {
        Listed {
            query,
            list,
            filter: json!({}),
            channel: None,
        }
    }

    /// Only the items `filter` (a Vendure list filter) selects.
    pub fn filter(self, filter: Value) -> Self {
        Listed { filter, ..self }
    }

    /// In the channel whose token is `channel`.
    pub fn channel(self, channel: &'a str) -> Self {
        Listed {
            channel: Some(channel),
            ..self
        }
    }
}

/// One page of the records of `listed`, after `cursor`, at most `limit`
/// (lowered to [`feed::MAX_PAGE`]). `id` names an item; `expand` makes its
/// records, each with a sub id (`""` when an item is one record).
pub fn page<T: DeserializeOwned>(
    listed: &Listed,
    cursor: Option<&str>,
    limit: u32,
    id: impl Fn(&T) -> &str,
    mut expand: impl FnMut(&T) -> Result<Vec<(String, Envelope)>, Error>,
) -> Result<Page, Error> {
    let limit = limit.clamp(1, feed::MAX_PAGE) as usize;
    let after = cursor.map(Position::decode).transpose()?;
    let mut skip = after.as_ref().map_or(0, |p| p.skip);
    let mut first = true;
    let mut records = Vec::new();
    let mut last: Option<Position> = None;
    let mut more = false;
    'fetch: loop {
        let items: Vec<T> = fetch(listed, skip)?;
        if first
            && skip > 0
            && let Some(after) = &after
            && items
                .first()
                .is_none_or(|item| feed::padded(id(item)) > after.item)
        {
            // Items before the position were deleted: it moved towards the start.
            skip = skip.saturating_sub(FETCH);
            continue;
        }
        first = false;
        let fetched = items.len();
        for (i, item) in items.iter().enumerate() {
            let item_id = feed::padded(id(item));
            if after.as_ref().is_some_and(|a| item_id < a.item) {
                continue;
            }
            let mut subs: Vec<(String, Envelope)> = expand(item)?
                .into_iter()
                .map(|(sub, envelope)| (feed::padded(&sub), envelope))
                .collect();
            subs.sort_by(|a, b| a.0.cmp(&b.0));
            for (sub, envelope) in subs {
                if after
                    .as_ref()
                    .is_some_and(|a| (&item_id, &sub) <= (&a.item, &a.sub))
                {
                    continue;
                }
                if records.len() == limit {
                    more = true;
                    break 'fetch;
                }
                records.push(envelope);
                last = Some(Position {
                    skip: skip + i,
                    item: item_id.clone(),
                    sub,
                });
            }
        }
        if fetched < FETCH {
            break;
        }
        skip += fetched;
    }
    Ok(Page {
        next_cursor: last.map(|p| p.encode()),
        more,
        records,
    })
}

fn fetch<T: DeserializeOwned>(listed: &Listed, skip: usize) -> Result<Vec<T>, Error> {
    let options =
        json!({"filter": listed.filter, "sort": {"id": "ASC"}, "skip": skip, "take": FETCH});
    let mut data: Value =
        graphql::query_in(listed.channel, listed.query, json!({ "options": options }))?;
    let list = listed.list;
    Vec::<T>::deserialize(data[list]["items"].take())
        .map_err(|e| Error::permanent(format!("Vendure's `{list}` have an unexpected shape: {e}")))
}

#[cfg(test)]
mod tests {
    use super::Position;

    #[test]
    fn cursors_round_trip() {
        let p = Position {
            skip: 140,
            item: "000000000042".into(),
            sub: "000000000002".into(),
        };
        assert_eq!(Position::decode(&p.encode()).unwrap(), p);
        assert!(Position::decode("nonsense").is_err());
        assert!(Position::decode("x:1:2").is_err());
    }
}
