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

impl fmt::Display for Watermark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::Watermark;

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
