//! Changed-since reads over Magento searches (`orders`, `customers`,
//! `credit-memos`), with a [`Watermark`] over `(updated_at, entity_id)` as the
//! cursor.
//!
//! Magento's `updated_at` has whole seconds, so many records share one (a
//! mass action, an import). A read asks for the records updated at or after
//! the watermark's second (`gteq`), sorted by `updated_at` then `entity_id`,
//! pages through them (`currentPage`, stopping by `total_count`), and keeps
//! those after the watermark: the ids of that second already passed are
//! skipped, so a page that ends inside a second resumes at the next record of
//! it, and a second wider than a page still moves on.
//!
//! In the cursor the time is RFC 3339 (`2026-11-23T10:00:00Z`, as the payloads
//! carry it) and the id zero-padded to 12 digits so that ids compare as the
//! numbers Magento sorts them as: `2026-11-23T10:00:00Z|000000001042`.

use serde::de::DeserializeOwned;
use tenon_sdk::prelude::*;

use tenon_sdk::cursor::Changes;

use crate::criteria::{self, SearchCriteria, SearchResult};
use crate::rest::{Magento, Scope};

/// The most records one `read` returns; larger limits are lowered to this.
pub const MAX_PAGE: u32 = 500;

/// Width ids are left-padded to in cursors.
const ID_WIDTH: usize = 12;

/// A record of a changed-since search.
pub trait Changed {
    /// Magento's `updated_at` (`2026-11-23 10:00:00`).
    fn updated_at(&self) -> &str;
    /// Magento's `entity_id`.
    fn entity_id(&self) -> u64;
}

/// A record read, with its position in the stream.
#[derive(Debug)]
pub struct Positioned<T> {
    /// RFC 3339.
    pub time: String,
    /// The padded id.
    pub key: String,
    pub record: T,
}

/// Up to `limit` records of the search at `path` after `cursor`, oldest
/// first, the watermark after the last of them, and whether more follow.
pub fn changed_since<T: Changed + DeserializeOwned>(
    api: &Magento,
    path: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Changes<Positioned<T>>, Error> {
    let mark = Watermark::from_cursor(cursor);
    let criteria = search(&mark, api.settings.page_size)?;
    collect(path, &mark, limit, criteria.size(), |page| {
        api.get(
            Scope::Store,
            path,
            &criteria.clone().current_page(page).query(),
        )
    })
}

/// The first `limit` records after `mark` of the search `what`, whose pages
/// of `size` `fetch(page)` answers, in stream order.
fn collect<T: Changed>(
    what: &str,
    mark: &Watermark,
    limit: u32,
    size: u32,
    fetch: impl FnMut(u32) -> Result<SearchResult<T>, Error>,
) -> Result<Changes<Positioned<T>>, Error> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut fresh = Vec::new();
    let mut unparsed = None;
    let exhausted = criteria::walk(what, size, fetch, |items| {
        for record in items {
            let Some(time) = rfc3339(record.updated_at()) else {
                unparsed
                    .get_or_insert_with(|| (record.entity_id(), record.updated_at().to_owned()));
                continue;
            };
            let key = padded(record.entity_id());
            if mark.is_new(&time, &key) {
                fresh.push(Positioned { time, key, record });
            }
        }
        // One more than a page tells whether more follow.
        Ok(fresh.len() <= limit as usize)
    })?;
    if let Some((id, time)) = unparsed {
        return Err(Error::permanent(format!(
            "Magento's `{what}` record {id} has `updated_at` `{time}`, not `YYYY-MM-DD HH:MM:SS`"
        )));
    }
    let changes = mark.changes(fresh, limit, !exhausted, |p| (&p.time, &p.key));
    if changes.records.is_empty() && changes.more {
        return Err(Error::permanent(format!(
            "more records of `{what}` share the second of cursor `{mark}` than one read pages through: raise `page_size`"
        )));
    }
    Ok(changes)
}

/// The search for the records at or after `mark`'s second, in stream order.
fn search(mark: &Watermark, page_size: u32) -> Result<SearchCriteria, Error> {
    let mut criteria = SearchCriteria::new();
    if !mark.time.is_empty() {
        let since = magento_time(&mark.time).ok_or_else(|| {
            Error::permanent(format!(
                "cursor `{mark}` does not start with an RFC 3339 time in UTC"
            ))
        })?;
        criteria = criteria.filter("updated_at", "gteq", &since);
    }
    Ok(criteria
        .ascending("updated_at")
        .ascending("entity_id")
        .page_size(page_size))
}

/// The page of `records`, with the cursor of `mark` unless it is empty.
pub fn page(records: Vec<Envelope>, mark: &Watermark, more: bool) -> Page {
    Page {
        next_cursor: (!records.is_empty()).then(|| mark.encode()),
        more: more && !records.is_empty(),
        records,
    }
}

/// The text of a read's refusal of one record at `(time, key)`: `reason`,
/// and how to read past the record (its own position as the cursor).
pub fn refusal(reason: &str, time: &str, key: &str) -> String {
    format!(
        "{reason}; the stream stops at it: fix it in Magento, or read past it with `tenon flow cursor <tenant> <flow> --set '{}'`",
        Watermark::new(time, key).encode()
    )
}

/// An id as cursors hold it: zero-padded, so that text order is number order.
pub fn padded(id: u64) -> String {
    format!("{id:0>ID_WIDTH$}")
}

/// Magento's UTC `2026-11-23 10:00:00` as RFC 3339 `2026-11-23T10:00:00Z`;
/// `None` if it is not in that form.
pub fn rfc3339(magento: &str) -> Option<String> {
    let b = magento.as_bytes();
    let shape = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ' || *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    shape.then(|| format!("{}T{}Z", &magento[..10], &magento[11..]))
}

/// An RFC 3339 time in UTC (`2026-11-23T10:00:00Z`, fractions ignored) as
/// Magento's filter value `2026-11-23 10:00:00`.
pub fn magento_time(rfc3339_time: &str) -> Option<String> {
    let seconds = rfc3339_time.get(..19)?;
    let zone = &rfc3339_time[19..];
    let utc = zone.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    if !matches!(utc, "Z" | "+00:00") {
        return None;
    }
    rfc3339(seconds).map(|_| format!("{} {}", &seconds[..10], &seconds[11..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Held {
        updated_at: &'static str,
        entity_id: u64,
    }

    impl Changed for Held {
        fn updated_at(&self) -> &str {
            self.updated_at
        }
        fn entity_id(&self) -> u64 {
            self.entity_id
        }
    }

    /// One read against `store` (what Magento holds) in pages of `size`, as
    /// Magento answers the search `search` builds: records at or after the
    /// cursor's second, sorted by (updated_at, entity_id), the last page again
    /// for any page after it.
    fn read(
        store: &[Held],
        cursor: Option<&str>,
        limit: u32,
        size: u32,
    ) -> (Vec<u64>, Watermark, bool) {
        let mark = Watermark::from_cursor(cursor);
        let query = search(&mark, size).unwrap().query();
        let since = query
            .iter()
            .find(|(k, _)| k.ends_with("[value]"))
            .map(|(_, v)| v.clone());
        let mut matching: Vec<&Held> = store
            .iter()
            .filter(|h| since.as_deref().is_none_or(|s| h.updated_at >= s))
            .collect();
        matching.sort_by_key(|h| (h.updated_at, h.entity_id));
        let changes = collect("orders", &mark, limit, size, |page| {
            let size = size as usize;
            let last_start = matching.len().saturating_sub(1) / size * size;
            let start = ((page as usize - 1) * size).min(last_start);
            Ok(SearchResult {
                items: matching
                    .iter()
                    .skip(start)
                    .take(size)
                    .map(|h| Held {
                        updated_at: h.updated_at,
                        entity_id: h.entity_id,
                    })
                    .collect(),
                total_count: matching.len() as u64,
            })
        })
        .unwrap();
        let ids = changes.records.iter().map(|p| p.record.entity_id).collect();
        (ids, changes.mark, changes.more)
    }

    #[test]
    fn a_second_shared_by_more_records_than_a_page_is_read_once_each() {
        // Seven records in one second, ids out of insertion order, then one later.
        let mut store: Vec<Held> = [12, 3, 45, 7, 9, 100, 8]
            .into_iter()
            .map(|entity_id| Held {
                updated_at: "2026-11-23 10:00:00",
                entity_id,
            })
            .collect();
        store.push(Held {
            updated_at: "2026-11-23 10:00:01",
            entity_id: 2,
        });
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        for _ in 0..20 {
            let (ids, mark, more) = read(&store, cursor.as_deref(), 3, 2);
            seen.extend(ids);
            cursor = Some(mark.encode());
            if !more {
                break;
            }
        }
        assert_eq!(seen, [3, 7, 8, 9, 12, 45, 100, 2]);
        assert_eq!(cursor.as_deref(), Some("2026-11-23T10:00:01Z|000000000002"));
        // Nothing new: nothing again, and the cursor stays.
        let (ids, mark, more) = read(&store, cursor.as_deref(), 3, 2);
        assert!(ids.is_empty() && !more);
        assert_eq!(mark.encode(), cursor.unwrap());
    }

    #[test]
    fn a_record_changed_later_comes_again_and_ids_compare_as_numbers() {
        let store = [
            Held {
                updated_at: "2026-11-23 10:00:00",
                entity_id: 9,
            },
            Held {
                updated_at: "2026-11-23 10:00:00",
                entity_id: 10,
            },
        ];
        let (ids, mark, _) = read(&store, None, 1, 100);
        assert_eq!(ids, [9], "9 before 10, as numbers");
        let (ids, _, _) = read(&store, Some(&mark.encode()), 5, 100);
        assert_eq!(ids, [10]);
        let later = [Held {
            updated_at: "2026-11-23 10:05:00",
            entity_id: 9,
        }];
        let (ids, _, _) = read(&later, Some("2026-11-23T10:00:00Z|000000000010"), 5, 100);
        assert_eq!(ids, [9]);
    }

    #[test]
    fn times_convert_between_magento_and_rfc_3339() {
        assert_eq!(
            rfc3339("2026-11-23 10:00:00").as_deref(),
            Some("2026-11-23T10:00:00Z")
        );
        assert_eq!(
            rfc3339("2026-11-23T10:00:00").as_deref(),
            Some("2026-11-23T10:00:00Z")
        );
        assert_eq!(rfc3339("23/11/2026 10:00"), None);
        assert_eq!(
            magento_time("2026-11-23T10:00:00Z").as_deref(),
            Some("2026-11-23 10:00:00")
        );
        assert_eq!(
            magento_time("2026-11-23T10:00:00.000Z").as_deref(),
            Some("2026-11-23 10:00:00")
        );
        assert_eq!(magento_time("2026-11-23T10:00:00+01:00"), None, "UTC only");
        assert_eq!(magento_time("yesterday"), None);
        assert!(padded(9) < padded(10));
    }
}
