//! Times of the cursor: Vendure's `updatedAt` (`2026-11-23T19:31:33.000Z`).

/// The time one second before `time` (RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SS...`),
/// fractions dropped, as `YYYY-MM-DDTHH:MM:SSZ`; `None` if `time` is not in
/// that form. Vendure's `after` filter is strict and its sqljs times have
/// whole seconds, so `after: one_second_before(t)` includes the records at `t`.
pub fn one_second_before(time: &str) -> Option<String> {
    let b = time.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
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
    let (y, m, d) = civil_from_days(days);
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
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
    use super::one_second_before;

    #[test]
    fn steps_back_across_minutes_days_and_years() {
        let back = |t| one_second_before(t).unwrap();
        assert_eq!(back("2026-11-23T19:31:33.000Z"), "2026-11-23T19:31:32Z");
        assert_eq!(back("2026-11-23T00:00:00.000Z"), "2026-11-22T23:59:59Z");
        assert_eq!(back("2026-01-01T00:00:00Z"), "2025-12-31T23:59:59Z");
        assert_eq!(back("2024-03-01T00:00:00Z"), "2024-02-29T23:59:59Z");
        assert_eq!(one_second_before("yesterday"), None);
    }
}
