//! Tryton's typed JSON values: `{"__class__": "Decimal", "decimal": "9.99"}` and
//! `{"__class__": "datetime", "year": ..}`, to and from plain strings. Pure.

use serde_json::{Value, json};
use tenon_sdk::money;

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

/// A Tryton `Decimal` for `minor` units of `currency` (its ISO 4217 exponent,
/// see [`money`]): `(1990, "EUR")` -> `"19.90"`, `(1500, "JPY")` -> `"1500"`.
pub fn decimal_from_minor(minor: i64, currency: &str) -> Value {
    json!({"__class__": "Decimal", "decimal": money::decimal(minor, currency)})
}

/// Minor units of `currency` from a Tryton `Decimal` (or a plain number or
/// string). Tryton keeps unit prices with four decimals (`"19.9000"`): zeros
/// past the currency's exponent are dropped, other digits past it are rounded
/// half away from zero (`"19.9050"` EUR -> 1991). `None` if it is no decimal.
pub fn minor_from_decimal(value: &Value, currency: &str) -> Option<i64> {
    let text = decimal(value)?;
    let exponent = money::exponent(currency) as usize;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let fraction = fraction.trim_end_matches('0');
    let minor = if fraction.len() <= exponent {
        let exact = if fraction.is_empty() {
            whole.to_owned()
        } else {
            format!("{whole}.{fraction}")
        };
        money::parse(&exact, exponent as u32).ok()?
    } else {
        let kept = if exponent == 0 {
            money::parse(whole, 0)
        } else {
            money::parse(
                &format!("{whole}.{}", &fraction[..exponent]),
                exponent as u32,
            )
        }
        .ok()?;
        let next = fraction.as_bytes()[exponent];
        if !next.is_ascii_digit() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        kept + i64::from(next >= b'5')
    };
    Some(if negative { -minor } else { minor })
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
    fn decimals_carry_minor_units_exactly() {
        assert_eq!(decimal_from_minor(1990, "EUR")["decimal"], "19.90");
        assert_eq!(decimal_from_minor(5, "EUR")["decimal"], "0.05");
        assert_eq!(decimal_from_minor(-150, "EUR")["decimal"], "-1.50");
        assert_eq!(decimal_from_minor(1500, "JPY")["decimal"], "1500");
        assert_eq!(decimal_from_minor(2125, "KWD")["decimal"], "2.125");
        let price = json!({"__class__": "Decimal", "decimal": "9.99"});
        assert_eq!(decimal(&price).as_deref(), Some("9.99"));
    }

    #[test]
    fn tryton_prices_become_minor_units() {
        let d = |text: &str| json!({"__class__": "Decimal", "decimal": text});
        assert_eq!(minor_from_decimal(&d("19.9000"), "EUR"), Some(1990));
        assert_eq!(minor_from_decimal(&d("19.9"), "EUR"), Some(1990));
        assert_eq!(minor_from_decimal(&d("7"), "EUR"), Some(700));
        assert_eq!(minor_from_decimal(&d("1500.0000"), "JPY"), Some(1500));
        assert_eq!(minor_from_decimal(&d("1500.5000"), "JPY"), Some(1501));
        assert_eq!(minor_from_decimal(&d("38.4"), "JPY"), Some(38));
        assert_eq!(minor_from_decimal(&d("19.9050"), "EUR"), Some(1991));
        assert_eq!(minor_from_decimal(&d("19.9049"), "EUR"), Some(1990));
        assert_eq!(minor_from_decimal(&d("-3.0500"), "EUR"), Some(-305));
        assert_eq!(minor_from_decimal(&d("abc"), "EUR"), None);
        assert_eq!(minor_from_decimal(&Value::Null, "EUR"), None);
    }
}
