//! Magento's amounts and the canonical ones, exactly.
//!
//! Magento keeps amounts with four decimals and sends them as JSON numbers
//! computed in PHP floats: `19.9`, `19.9000`, and now and then float noise
//! such as `0.30000000000000004` (0.1 + 0.2) or `1.0E-5`. An amount is read
//! from the number's decimal text ([`money::decimal_of`], or the number as
//! JSON prints it when it has more decimals than that takes), then rounded to
//! the currency's decimals half away from zero on those digits, never through
//! a float: the amount Magento shows. Written amounts go out as the JSON
//! number of their exact decimal text (`"19.90"` -> `19.9`).

use serde_json::Value;
use tenon_sdk::money;

/// Magento's amount `value` (a JSON number or numeric string) in minor units
/// of `currency`, rounded to its decimals: `19.9` EUR -> `1990`,
/// `0.30000000000000004` EUR -> `30`, `1500` JPY -> `1500`.
pub fn minor(value: &Value, currency: &str) -> Result<i64, String> {
    let text = match (money::decimal_of(value), value) {
        (Ok(text), _) => text,
        (Err(_), Value::Number(n)) => n.to_string(),
        (Err(e), _) => return Err(e),
    };
    rounded(&text, money::exponent(currency))
        .ok_or_else(|| format!("`{text}` is not an amount of {currency}"))
}

/// [`minor`] of an amount Magento may leave out or send as `null` (an order
/// without shipping): those are 0.
pub fn minor_or_zero(value: &Value, currency: &str) -> Result<i64, String> {
    if value.is_null() {
        Ok(0)
    } else {
        minor(value, currency)
    }
}

/// `minor` units of `currency` as the canonical decimal string (`"19.90"`).
pub fn decimal(minor: i64, currency: &str) -> String {
    money::decimal(minor, currency)
}

/// A canonical decimal `amount` of `currency` as the JSON number Magento
/// takes: `"19.90"` -> `19.9`. Refuses what [`money::minor_units`] refuses.
pub fn number(amount: &str, currency: &str) -> Result<Value, String> {
    let minor = money::minor_units(amount, currency)?;
    serde_json::from_str(&money::decimal(minor, currency))
        .map_err(|e| format!("`{amount}` ({currency}): {e}"))
}

/// A whole quantity from Magento's `qty` (`2`, `2.0000`), if it is one.
pub fn whole(value: &Value) -> Option<i64> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    let minor = rounded(&text, 4)?;
    (minor % 10_000 == 0).then_some(minor / 10_000)
}

/// Whether Magento's amount `value` is above or below 0 at its four
/// decimals (`null` is 0).
pub fn nonzero(value: &Value) -> bool {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return false,
    };
    rounded(&text, 4).is_some_and(|units| units != 0)
}

/// The decimal `text` (`-12.345`, `1.5e-7`) in units of `10^-exponent`,
/// rounded half away from zero on its digits; `None` if it is not a number.
fn rounded(text: &str, exponent: u32) -> Option<i64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, shift) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return None;
    }
    // Every digit, and where the decimal point falls among them.
    let digits: Vec<u8> = whole
        .bytes()
        .chain(fraction.bytes())
        .map(|b| b - b'0')
        .collect();
    let point = i64::try_from(whole.len()).ok()? + i64::from(shift);
    let keep = point + i64::from(exponent);
    let digit = |i: i64| -> u8 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut units: i64 = 0;
    for i in 0..keep.max(0) {
        units = units.checked_mul(10)?.checked_add(i64::from(digit(i)))?;
    }
    if digit(keep) >= 5 && keep >= 0 {
        units = units.checked_add(1)?;
    }
    Some(if negative { -units } else { units })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn magentos_numbers_become_exact_minor_units() {
        assert_eq!(minor(&json!(19.9), "EUR"), Ok(1990));
        assert_eq!(minor(&json!(19.99), "EUR"), Ok(1999));
        assert_eq!(minor(&json!(1500), "JPY"), Ok(1500));
        assert_eq!(minor(&json!(2.125), "KWD"), Ok(2125));
        assert_eq!(minor(&json!("19.9000"), "EUR"), Ok(1990));
        assert_eq!(minor(&json!(-5), "EUR"), Ok(-500));
        assert_eq!(minor(&json!(0), "EUR"), Ok(0));
    }

    #[test]
    fn float_noise_rounds_to_the_amount_magento_shows() {
        assert_eq!(minor(&json!(0.1 + 0.2), "EUR"), Ok(30));
        assert_eq!(minor(&json!(39.800000000000004), "EUR"), Ok(3980));
        assert_eq!(minor(&json!(19.8999999999999), "EUR"), Ok(1990));
        assert_eq!(minor(&json!(16.8067), "EUR"), Ok(1681));
        assert_eq!(minor(&json!(2.675), "EUR"), Ok(268), "half away from zero");
        assert_eq!(minor(&json!(-2.675), "EUR"), Ok(-268));
        assert_eq!(minor(&json!(1.0e-5), "EUR"), Ok(0));
        assert_eq!(minor(&json!(1499.5), "JPY"), Ok(1500));
    }

    #[test]
    fn what_is_not_an_amount_is_refused() {
        assert!(minor(&json!(null), "EUR").is_err());
        assert!(minor(&json!("abc"), "EUR").is_err());
        assert!(minor(&json!(true), "EUR").is_err());
        assert_eq!(minor_or_zero(&json!(null), "EUR"), Ok(0));
    }

    #[test]
    fn canonical_amounts_go_out_as_json_numbers() {
        assert_eq!(number("19.90", "EUR"), Ok(json!(19.9)));
        assert_eq!(number("1500", "JPY"), Ok(json!(1500)));
        assert!(number("19.999", "EUR").is_err());
        assert_eq!(decimal(1990, "EUR"), "19.90");
    }

    #[test]
    fn quantities_are_whole_or_none() {
        assert_eq!(whole(&json!(2)), Some(2));
        assert_eq!(whole(&json!(2.0)), Some(2));
        assert_eq!(whole(&json!("3.0000")), Some(3));
        assert_eq!(whole(&json!(1.5)), None);
        assert_eq!(whole(&json!(null)), None);
        assert!(nonzero(&json!(16.72)) && nonzero(&json!(-0.01)));
        assert!(!nonzero(&json!(0)) && !nonzero(&json!(null)) && !nonzero(&json!(0.00001)));
    }
}
