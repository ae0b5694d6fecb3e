//! Tryton's typed JSON values: `{"__class__": "Decimal", "decimal": "9.99"}` and
//! `{"__class__": "datetime", "year": ..}`, to and from plain strings. Pure.

use serde_json::{Value, json};

/// `"9.99"` from a Tryton `Decimal` (or a plain number or string); `None` for null.
pub fn decimal(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => map
            .get("decimal")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A Tryton `Decimal` for `cents` hundredths: 1990 -> `"19.90"`.
pub fn decimal_from_cents(cents: i64) -> Value {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    json!({"__class__": "Decimal", "decimal": format!("{sign}{}.{:02}", cents / 100, cents % 100)})
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` from a Tryton `datetime` (naive UTC); `None` for
/// null or anything else.
pub fn datetime(value: &Value) -> Option<String> {
    let map = value.as_object()?;
    if map.get("__class__")?.as_str()? != "datetime" {
        return None;
    }
    let part = |name: &str| map.get(name).and_then(Value::as_u64).unwrap_or(0);
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        part("year"),
        part("month"),
        part("day"),
        part("hour"),
        part("minute"),
        part("second"),
        part("microsecond"),
    ))
}

/// The Tryton `datetime` of a time [`datetime`] wrote, truncated to the second
/// (so that a search with `>=` includes the whole second); `None` if it does
/// not parse.
pub fn datetime_value(time: &str) -> Option<Value> {
    let number = |range: std::ops::Range<usize>| time.get(range)?.parse::<u64>().ok();
    Some(json!({
        "__class__": "datetime",
        "year": number(0..4)?,
        "month": number(5..7)?,
        "day": number(8..10)?,
        "hour": number(11..13)?,
        "minute": number(14..16)?,
        "second": number(17..19)?,
        "microsecond": 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip_to_the_second() {
        let tryton = json!({"__class__": "datetime", "year": 2026, "month": 11, "day": 3,
            "hour": 9, "minute": 5, "second": 7, "microsecond": 42});
        let text = datetime(&tryton).unwrap();
        assert_eq!(text, "2026-11-03T09:05:07.000042Z");
        let mut truncated = tryton.clone();
        truncated["microsecond"] = json!(0);
        assert_eq!(datetime_value(&text).unwrap(), truncated);
        assert_eq!(datetime(&Value::Null), None);
    }

    #[test]
    fn decimals_carry_cents_exactly() {
        assert_eq!(decimal_from_cents(1990)["decimal"], "19.90");
        assert_eq!(decimal_from_cents(5)["decimal"], "0.05");
        assert_eq!(decimal_from_cents(-150)["decimal"], "-1.50");
        let price = json!({"__class__": "Decimal", "decimal": "9.99"});
        assert_eq!(decimal(&price).as_deref(), Some("9.99"));
    }
}
