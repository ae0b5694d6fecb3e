//! [`Watermark`]: a "changed since" cursor that neither skips nor repeats records
//! that share a timestamp.
//!
//! The host stores the cursor a `read` returns (as `next-cursor`) once the page
//! was delivered, and passes it back to the next `read`. What the string means
//! is up to the plugin; most vendor APIs can only filter by "updated after", so
//! the natural cursor is the newest `updated_at` seen. A timestamp alone is not
//! enough, because **several records can share a timestamp** (a bulk update, a
//! second-precision clock), and a page can end between two of them:
//!
//! ```text
//! (10:00:00Z, 1001)  (10:00:00Z, 1002)  (10:00:05Z, 1003)
//!  page 1 ends here ^
//! ```
//!
//! With the cursor `10:00:00Z`, "updated after" skips `1002` for ever, and
//! "updated at or after" returns `1001` again; worse, if more records share the
//! timestamp than fit in a page, every read returns the same page and the stream
//! never moves. Pairing the time with the record key gives every record its own
//! position `(time, key)`: the next read starts strictly after `(10:00:00Z, 1001)`
//! and returns exactly `1002, 1003`.
//!
//! Two ways to use it:
//!
//! - **The vendor filters and sorts by `(time, key)`** (like the demo shop's
//!   `updated_after` + `after_id`): send the watermark's two parts, then set the
//!   watermark to the last record of the page with [`Watermark::new`].
//! - **The vendor only filters by time** (inclusive): fetch from `time`, keep
//!   records for which [`Watermark::is_new`] holds, sort them by `(time, key)`,
//!   take `limit`, and [`Watermark::advance`] over them.
//!
//! Positions compare as strings, time first then key. Time strings must therefore
//! share one format (RFC 3339 in UTC with a fixed precision, as most APIs return),
//! and keys compare as text (`"10" < "9"`): when the vendor orders keys
//! differently, let the vendor sort (the first way).

use std::fmt;

use serde::Serialize;

use crate::{Envelope, Error, Page};

/// A position in a stream ordered by `(time, key)`: everything at or before it has
/// been read.
///
/// Its cursor form is `time|key` (`2026-11-23T10:00:00Z|1001`), readable in
/// `tenon` output and easy to set by hand; a cursor without `|` is a time alone
/// and reads every record at or after that time. The time must not contain `|`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Watermark {
    /// When the record last changed, as the source writes it (RFC 3339).
    pub time: String,
    /// The record's key in the source: breaks ties between equal times.
    pub key: String,
}

impl Watermark {
    /// Separates time and key in the cursor string.
    pub const SEPARATOR: char = '|';

    /// The position of the record with this time and key.
    pub fn new(time: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            time: time.into(),
            key: key.into(),
        }
    }

    /// The position before every record: nothing has been read yet.
    pub fn start() -> Self {
        Self::default()
    }

    /// Whether nothing has been read yet (no time and no key).
    pub fn is_start(&self) -> bool {
        self.time.is_empty() && self.key.is_empty()
    }

    /// The watermark a `read` was given: [`Watermark::start`] for `None`.
    pub fn from_cursor(cursor: Option<&str>) -> Self {
        cursor.map(Self::decode).unwrap_or_default()
    }

    /// Parses the cursor form `time|key`; a string without `|` is a time alone.
    pub fn decode(cursor: &str) -> Self {
        match cursor.split_once(Self::SEPARATOR) {
            Some((time, key)) => Self::new(time, key),
            None => Self::new(cursor, ""),
        }
    }

    /// The cursor form `time|key`, for [`Page::next_cursor`](crate::Page).
    pub fn encode(&self) -> String {
        format!("{}{}{}", self.time, Self::SEPARATOR, self.key)
    }

    /// Whether the record at `(time, key)` comes after this watermark, that is,
    /// has not been read yet.
    pub fn is_new(&self, time: &str, key: &str) -> bool {
        (time, key) > (self.time.as_str(), self.key.as_str())
    }

    /// Moves the watermark to the record at `(time, key)` if that record is
    /// newer; returns whether it moved. A watermark never moves backwards, so
    /// records may be advanced over in any order.
    pub fn advance(&mut self, time: &str, key: &str) -> bool {
        let newer = self.is_new(time, key);
        if newer {
            *self = Self::new(time, key);
        }
        newer
    }
}

/// The records after a [`Watermark`], in `(time, key)` order, at most a page of
/// them: what [`Watermark::changes`] and [`Watermark::read_changes`] return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes<T> {
    pub records: Vec<T>,
    /// The position of the last record (the watermark itself when none).
    pub mark: Watermark,
    /// Whether another read would return records now.
    pub more: bool,
}

impl<T: Serialize> Changes<T> {
    /// The [`Page`] `read` returns: each record an upsert of `stream` at the key
    /// `position` gives, with its time as the source time; the cursor after the
    /// last record (none for an empty page: the host keeps the one it has).
    pub fn into_page(
        self,
        stream: &str,
        position: impl Fn(&T) -> (&str, &str),
    ) -> Result<Page, Error> {
        let mut records = Vec::with_capacity(self.records.len());
        for record in &self.records {
            let (time, key) = position(record);
            records.push(Envelope::upsert(stream, key, record, Some(time))?);
        }
        Ok(Page {
            next_cursor: (!records.is_empty()).then(|| self.mark.encode()),
            more: self.more && !records.is_empty(),
            records,
        })
    }
}

/// The most vendor pages [`Watermark::read_changes`] asks for in one read: a
/// tie wider than this many pages is an error, not an endless read.
pub const MAX_VENDOR_PAGES: u32 = 100;

impl Watermark {
    /// The next records of `fetched` (what the vendor returned, in any order,
    /// records already read among them): those after this watermark, sorted by
    /// `(time, key)`, at most `limit`, the watermark after the last, and whether
    /// more are left (some were cut, or `vendor_more`: the vendor has further
    /// pages). For a vendor that filters and sorts by `(time, key)` itself,
    /// every record is new and this only builds the page.
    pub fn changes<T>(
        &self,
        fetched: Vec<T>,
        limit: u32,
        vendor_more: bool,
        position: impl Fn(&T) -> (&str, &str),
    ) -> Changes<T> {
        let mut fresh: Vec<T> = fetched
            .into_iter()
            .filter(|r| {
                let (time, key) = position(r);
                self.is_new(time, key)
            })
            .collect();
        fresh.sort_by(|a, b| position(a).cmp(&position(b)));
        self.first_of(fresh, limit.max(1) as usize, vendor_more, position)
    }

    /// The first `limit` of `fresh` (records after this watermark, sorted by
    /// position) and the watermark after the last of them.
    fn first_of<T>(
        &self,
        mut fresh: Vec<T>,
        limit: usize,
        vendor_more: bool,
        position: impl Fn(&T) -> (&str, &str),
    ) -> Changes<T> {
        let more = vendor_more || fresh.len() > limit;
        fresh.truncate(limit);
        let mark = fresh.last().map_or_else(
            || self.clone(),
            |last| {
                let (time, key) = position(last);
                Watermark::new(time, key)
            },
        );
        Changes {
            records: fresh,
            mark,
            more,
        }
    }

    /// Reads the next `limit` records from an API that filters "changed at or
    /// after a time" and returns them in pages sorted by time (ties in any
    /// order). `fetch(since, page)` asks the vendor for its page `page` (from
    /// 0) of records changed at or after `since` (`None`: every record) and
    /// returns them with whether the vendor has more pages.
    ///
    /// It asks for further vendor pages while the records already read crowd
    /// the first ones, and until every record sharing the time of the page's
    /// last record was seen, so no tie is skipped or returned twice, however
    /// many records share a timestamp (up to [`MAX_VENDOR_PAGES`] pages).
    pub fn read_changes<T>(
        &self,
        limit: u32,
        mut fetch: impl FnMut(Option<&str>, u32) -> Result<(Vec<T>, bool), Error>,
        position: impl Fn(&T) -> (&str, &str),
    ) -> Result<Changes<T>, Error> {
        let limit = limit.max(1) as usize;
        let since = (!self.time.is_empty()).then_some(self.time.as_str());
        let mut fresh: Vec<T> = Vec::new();
        let mut page = 0;
        loop {
            let (records, vendor_more) = fetch(since, page)?;
            // The newest time on this vendor page: with pages sorted by time,
            // nothing later can come before it.
            let newest = records
                .iter()
                .map(|r| position(r).0)
                .max()
                .unwrap_or_default()
                .to_owned();
            fresh.extend(records.into_iter().filter(|r| {
                let (time, key) = position(r);
                self.is_new(time, key)
            }));
            // Sorted only when this page may be the last one asked for.
            if !vendor_more || fresh.len() > limit {
                fresh.sort_by(|a, b| position(a).cmp(&position(b)));
            }
            if !vendor_more {
                return Ok(self.first_of(fresh, limit, false, position));
            }
            // Once a later time shows, the tie at the page's end is whole.
            if fresh.len() > limit && newest.as_str() > position(&fresh[limit - 1]).0 {
                return Ok(self.first_of(fresh, limit, true, position));
            }
            page += 1;
            if page >= MAX_VENDOR_PAGES {
                return Err(Error::permanent(format!(
                    "more than {MAX_VENDOR_PAGES} vendor pages of records changed at `{}`: ask the vendor for larger pages",
                    self.time
                )));
            }
        }
    }
}

impl fmt::Display for Watermark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// A UTC time to the second: what [`second_before`] returns, to format as the
/// vendor's filter expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcSecond {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
}

impl UtcSecond {
    /// `2026-11-23T09:59:59Z`.
    pub fn rfc3339(&self) -> String {
        self.with_separator('T') + "Z"
    }

    /// `2026-11-23 09:59:59`.
    pub fn sql(&self) -> String {
        self.with_separator(' ')
    }

    fn with_separator(&self, sep: char) -> String {
        format!(
            "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The second before `time`, read as UTC from its `YYYY-MM-DDTHH:MM:SS` prefix
/// (`T` or a space between date and time; fractions and offset ignored); `None`
/// if `time` is not in that form.
///
/// For vendors whose "updated after" filter is strict and whole-second: asking
/// for records after `second_before(t)` includes those at `t`, which
/// [`Watermark::is_new`] then sorts out.
pub fn second_before(time: &str) -> Option<UtcSecond> {
    let b = time.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| time.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let seconds = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - 1;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    Some(UtcSecond {
        year,
        month,
        day,
        hour: rest / 3600,
        minute: rest / 60 % 60,
        second: rest % 60,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: the inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::{Watermark, second_before};

    /// `(time, key)` records as a vendor holds them.
    fn records(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(t, k)| (t.to_string(), k.to_string()))
            .collect()
    }

    fn keys(changes: &super::Changes<(String, String)>) -> Vec<&str> {
        changes.records.iter().map(|(_, k)| k.as_str()).collect()
    }

    #[test]
    fn an_inclusive_api_is_read_through_a_tie_wider_than_its_pages() {
        // Five records share 10:00, the vendor pages by two, sorted by time
        // only, its ties in no particular order.
        let vendor = records(&[
            ("10:00", "e"),
            ("10:00", "b"),
            ("10:00", "d"),
            ("10:00", "a"),
            ("10:00", "c"),
            ("10:05", "f"),
        ]);
        let mut asked = Vec::new();
        let mut read = |mark: &Watermark| {
            mark.read_changes(
                2,
                |since, page| {
                    asked.push((since.map(str::to_owned), page));
                    let held: Vec<_> = vendor
                        .iter()
                        .filter(|(t, _)| since.is_none_or(|s| t.as_str() >= s))
                        .cloned()
                        .collect();
                    let start = (page * 2) as usize;
                    let end = (start + 2).min(held.len());
                    Ok((held[start.min(end)..end].to_vec(), end < held.len()))
                },
                |(t, k)| (t.as_str(), k.as_str()),
            )
            .unwrap()
        };
        let mut mark = Watermark::start();
        let mut seen = Vec::new();
        for _ in 0..10 {
            let changes = read(&mark);
            seen.extend(keys(&changes).iter().map(|k| k.to_string()));
            mark = changes.mark.clone();
            if !changes.more {
                break;
            }
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e", "f"], "{asked:?}");
        // Nothing new: an empty page that keeps the cursor.
        let last = read(&mark);
        assert!(last.records.is_empty() && !last.more);
        let page = last
            .into_page("orders", |(t, k)| (t.as_str(), k.as_str()))
            .unwrap();
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn changes_of_a_sorted_api_become_a_page_with_the_cursor_after_the_last() {
        let mark = Watermark::new("10:00", "b");
        let fetched = records(&[("10:05", "d"), ("10:00", "a"), ("10:00", "c")]);
        let changes = mark.changes(fetched, 1, false, |(t, k)| (t.as_str(), k.as_str()));
        assert_eq!(keys(&changes), ["c"]);
        assert!(changes.more, "d is left");
        let page = changes
            .into_page("orders", |(t, k)| (t.as_str(), k.as_str()))
            .unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("10:00|c"));
        assert_eq!(page.records[0].key, "c");
        assert_eq!(page.records[0].source_time.as_deref(), Some("10:00"));
        assert!(page.more);
    }

    #[test]
    fn the_second_before_crosses_minutes_days_and_years() {
        let back = |t| second_before(t).unwrap();
        assert_eq!(
            back("2026-11-23T19:31:33.000Z").rfc3339(),
            "2026-11-23T19:31:32Z"
        );
        assert_eq!(
            back("2026-11-23T00:00:00.000Z").rfc3339(),
            "2026-11-22T23:59:59Z"
        );
        assert_eq!(
            back("2026-01-01T00:00:00Z").rfc3339(),
            "2025-12-31T23:59:59Z"
        );
        assert_eq!(
            back("2027-01-01T00:00:00+00:00").sql(),
            "2026-12-31 23:59:59"
        );
        assert_eq!(back("2024-03-01 00:00:00").sql(), "2024-02-29 23:59:59");
        assert_eq!(second_before("yesterday"), None);
        assert_eq!(second_before("2026/11/23 10:00:00"), None);
    }

    #[test]
    fn cursor_round_trips_keys_containing_the_separator() {
        let mark = Watermark::new("2026-11-23T10:00:00Z", "a|b");
        assert_eq!(Watermark::decode(&mark.encode()), mark);
    }

    #[test]
    fn a_time_alone_admits_every_record_at_that_time() {
        let mark = Watermark::decode("2026-11-23T10:00:00Z");
        assert!(mark.is_new("2026-11-23T10:00:00Z", "1001"));
        assert!(!mark.is_new("2026-11-23T09:59:59Z", "1002"));
    }

    #[test]
    fn ties_on_time_are_broken_by_key() {
        let mark = Watermark::new("2026-11-23T10:00:00Z", "1001");
        assert!(!mark.is_new("2026-11-23T10:00:00Z", "1001"));
        assert!(mark.is_new("2026-11-23T10:00:00Z", "1002"));
        assert!(mark.is_new("2026-11-23T10:00:05Z", "1000"));
    }

    #[test]
    fn advance_never_moves_backwards() {
        let mut mark = Watermark::start();
        assert!(mark.advance("2026-11-23T10:00:05Z", "1003"));
        assert!(!mark.advance("2026-11-23T10:00:00Z", "1002"));
        assert_eq!(mark, Watermark::new("2026-11-23T10:00:05Z", "1003"));
    }

    #[test]
    fn no_cursor_is_the_start() {
        assert!(Watermark::from_cursor(None).is_start());
        assert!(Watermark::start().is_new("", "1"));
    }
}
