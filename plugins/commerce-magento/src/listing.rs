//! Whole-store listings for `reconcile`: every item of a Magento search in
//! `entity_id` order, each expanded into zero or more records, paged with a
//! cursor.
//!
//! The cursor `<page>:<entity id>:<sub id>` is where the last record listed
//! came from: the search page its item was on (pages of 100), the item's id,
//! and its place among that item's records (a source code, a customer group;
//! empty when an item is one record). Magento can filter every entity by
//! `entity_id` only by its own field names (products and customers list it as
//! `id`), so a page starts at the cursor's search page rather than at the id;
//! it steps back a page while the first item there is already past the
//! position (items before it were deleted), and leaves out the records at or
//! before the position. Items created meanwhile have larger ids and are
//! listed at the end. Pages stop by `total_count`, Magento answering its last
//! page again for any page after it.

use serde::de::DeserializeOwned;
use tenon_sdk::prelude::*;

use crate::criteria::{self, SearchCriteria, SearchResult};
use crate::rest::{Magento, Scope};

/// Items asked for per request.
const FETCH: u32 = 100;

/// The most records one page holds; larger limits are lowered to this.
const MAX_PAGE: u32 = 500;

/// The most search pages one call reads before it returns what it has.
const MAX_SEARCH_PAGES: u32 = 50;

/// An item of a listed search.
pub trait Item {
    /// Magento's `entity_id` of the item (`id` on products and customers).
    fn entity_id(&self) -> u64;
}

/// One record of a listing, with its position.
#[derive(Debug)]
pub struct Row {
    /// The `entity_id` of the item it comes from.
    pub id: u64,
    /// Its place among the item's records.
    pub sub: String,
    pub envelope: Envelope,
}

/// Where the last record of a page was.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    page: u32,
    id: u64,
    sub: String,
}

impl Position {
    fn encode(&self) -> String {
        format!("{}:{}:{}", self.page, self.id, self.sub)
    }

    fn decode(cursor: &str) -> Result<Position, Error> {
        let invalid = || {
            Error::permanent(format!(
                "reconcile cursor `{cursor}` is not `<page>:<entity id>:<sub id>`"
            ))
        };
        let mut parts = cursor.splitn(3, ':');
        let (Some(page), Some(id), Some(sub)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        Ok(Position {
            page: page.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
            sub: sub.to_owned(),
        })
    }

    /// Whether the record at `(id, sub)` is at or before this position.
    fn covers(&self, id: u64, sub: &str) -> bool {
        (id, sub) <= (self.id, self.sub.as_str())
    }
}

/// One page of the records of the search `criteria` at `path` after
/// `cursor`, at most `limit`. `expand` makes the records of a page of items.
pub fn page<T: Item + DeserializeOwned>(
    api: &Magento,
    scope: Scope,
    path: &str,
    criteria: SearchCriteria,
    cursor: Option<&str>,
    limit: u32,
    expand: impl FnMut(&[T]) -> Result<Vec<Row>, Error>,
) -> Result<Page, Error> {
    let after = cursor.map(Position::decode).transpose()?;
    let criteria = criteria.ascending("entity_id").page_size(FETCH);
    gather(after.as_ref(), limit, expand, |page| {
        api.get(scope, path, &criteria.clone().current_page(page).query())
    })
}

/// [`page`] over the search pages `fetch(page)` answers.
fn gather<T: Item>(
    after: Option<&Position>,
    limit: u32,
    mut expand: impl FnMut(&[T]) -> Result<Vec<Row>, Error>,
    mut fetch: impl FnMut(u32) -> Result<SearchResult<T>, Error>,
) -> Result<Page, Error> {
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let mut page = after.map_or(1, |a| a.page.max(1));
    let mut answer = fetch(page)?;
    // Past the last page Magento answers the last one: that is where we are.
    let pages = u32::try_from(answer.total_count.div_ceil(u64::from(FETCH))).unwrap_or(u32::MAX);
    page = page.min(pages.max(1));
    // Items before the position were deleted: it moved towards the start.
    while let Some(after) = after
        && page > 1
        && answer
            .items
            .first()
            .is_none_or(|item| item.entity_id() > after.id)
    {
        page -= 1;
        answer = fetch(page)?;
    }
    let mut records = Vec::new();
    let mut last: Option<Position> = None;
    for read in 1..=MAX_SEARCH_PAGES {
        let final_page =
            answer.items.is_empty() || criteria::is_last_page(page, FETCH, answer.total_count);
        let mut rows = expand(&answer.items)?;
        rows.sort_by(|a, b| (a.id, &a.sub).cmp(&(b.id, &b.sub)));
        for row in rows {
            if after.is_some_and(|a| a.covers(row.id, &row.sub))
                || last.as_ref().is_some_and(|l| l.covers(row.id, &row.sub))
            {
                continue;
            }
            if records.len() == limit {
                return Ok(Page {
                    next_cursor: last.map(|p| p.encode()),
                    more: true,
                    records,
                });
            }
            records.push(row.envelope);
            last = Some(Position {
                page,
                id: row.id,
                sub: row.sub,
            });
        }
        if final_page {
            break;
        }
        if read == MAX_SEARCH_PAGES {
            // Room left but no more reading in this call: the next one starts
            // after every item read, records or not.
            let end = answer
                .items
                .iter()
                .map(Item::entity_id)
                .max()
                .map(|id| Position {
                    page,
                    id,
                    sub: char::MAX.to_string(),
                });
            return Ok(Page {
                next_cursor: end.or(last).map(|p| p.encode()),
                more: true,
                records,
            });
        }
        page += 1;
        answer = fetch(page)?;
    }
    Ok(Page {
        next_cursor: last.map(|p| p.encode()),
        more: false,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Item for u64 {
        fn entity_id(&self) -> u64 {
            *self
        }
    }

    /// Lists `items` (ids, ascending) whose records are `subs(id)`, from
    /// `cursor`, as Magento pages them: pages of [`FETCH`], the last page
    /// again for a page after it.
    fn list(
        items: &[u64],
        subs: impl Fn(u64) -> Vec<&'static str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Page {
        let after = cursor.map(|c| Position::decode(c).unwrap());
        gather(
            after.as_ref(),
            limit,
            |page: &[u64]| {
                Ok(page
                    .iter()
                    .flat_map(|id| {
                        subs(*id).into_iter().map(move |sub| Row {
                            id: *id,
                            sub: sub.to_owned(),
                            envelope: Envelope::upsert("s", &format!("{id}@{sub}"), &(), None)
                                .unwrap(),
                        })
                    })
                    .collect())
            },
            |page| {
                let size = FETCH as usize;
                let last_start = items.len().saturating_sub(1) / size * size;
                let start = ((page as usize - 1) * size).min(last_start);
                Ok(SearchResult {
                    items: items.iter().skip(start).take(size).copied().collect(),
                    total_count: items.len() as u64,
                })
            },
        )
        .unwrap()
    }

    fn keys(page: &Page) -> Vec<&str> {
        page.records.iter().map(|r| r.key.as_str()).collect()
    }

    #[test]
    fn a_listing_pages_through_items_and_their_records_once_each() {
        let items: Vec<u64> = (1..=250).collect();
        let subs = |id: u64| {
            if id.is_multiple_of(2) {
                vec!["wh-b", "wh-a"]
            } else {
                vec![]
            }
        };
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        for _ in 0..200 {
            let page = list(&items, subs, cursor.as_deref(), 7);
            seen.extend(keys(&page).into_iter().map(str::to_owned));
            if !page.more {
                break;
            }
            cursor = page.next_cursor;
        }
        assert_eq!(seen.len(), 250, "125 even items, two records each");
        assert_eq!(seen[..3], ["2@wh-a", "2@wh-b", "4@wh-a"]);
        assert_eq!(seen.last().unwrap(), "250@wh-b");
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(unique.len(), seen.len());
    }

    #[test]
    fn a_page_resumes_inside_an_item_and_after_deletions() {
        let page = list(&[1, 2, 3], |_| vec!["a", "b", "c"], Some("1:2:a"), 2);
        assert_eq!(keys(&page), ["2@b", "2@c"]);
        assert_eq!(page.next_cursor.as_deref(), Some("1:2:c"));
        assert!(page.more);
        // The cursor was on page 3 (item 250); 120 items were deleted since,
        // so item 250 is on page 2 now.
        let items: Vec<u64> = (121..=300).collect();
        let page = list(&items, |_| vec![""], Some("3:250:"), 3);
        assert_eq!(keys(&page), ["251@", "252@", "253@"]);
        assert_eq!(page.next_cursor.as_deref(), Some("2:253:"));
        assert!(Position::decode("x:1:").is_err());
        assert!(Position::decode("42").is_err());
    }

    #[test]
    fn the_last_page_is_the_end_even_though_magento_answers_it_again() {
        let items: Vec<u64> = (1..=100).collect();
        let page = list(&items, |_| vec![""], Some("1:100:"), 10);
        assert!(page.records.is_empty() && !page.more);
        assert_eq!(page.next_cursor, None);
    }
}
