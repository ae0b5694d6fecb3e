//! Exact money: decimal amounts (`"19.90"`) and integer minor units (`1990`),
//! never through floating point.
//!
//! Canonical streams carry amounts in one of two forms: decimal strings
//! (`orders`, `products`), as shops and PIMs show them, or integer minor units
//! (`sale-orders`' `*_cents` fields), as ledgers add them up. How many decimals a
//! currency has comes from ISO 4217 ([`exponent`]): two for most, none for the
//! yen, three for the Kuwaiti dinar.

/// The number of decimals of `currency`'s minor unit (ISO 4217): 0, 2 or 3.
/// Unknown codes get 2, like most currencies.
pub fn exponent(currency: &str) -> u32 {
    const NONE: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    let code = currency.to_ascii_uppercase();
    if NONE.contains(&code.as_str()) {
        0
    } else if THREE.contains(&code.as_str()) {
        3
    } else {
        2
    }
}

/// Parses a decimal amount into minor units of a currency with `exponent`
/// decimals: `("19.90", 2)` -> `1990`, `("0.5", 2)` -> `50`, `("1500", 0)` ->
/// `1500`. Refuses more decimals than the currency has, signs other than a
/// leading `-`, exponents, separators and overflow.
pub fn parse(amount: &str, exponent: u32) -> Result<i64, String> {
    let invalid = || match exponent {
        0 => format!("`{amount}` is not a whole amount"),
        n => format!("`{amount}` is not an amount with at most {n} decimals"),
    };
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f) || f.len() > exponent as usize)
    {
        return Err(invalid());
    }
    // "0.5" is 50 cents, not 5.
    let fraction = format!(
        "{:0<width$}",
        fraction.unwrap_or(""),
        width = exponent as usize
    );
    let scale = 10_i64.pow(exponent);
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| invalid())?
    };
    let minor = whole
        .checked_mul(scale)
        .and_then(|m| m.checked_add(fraction))
        .ok_or_else(invalid)?;
    Ok(if negative { -minor } else { minor })
}

/// Formats minor units as a decimal amount with exactly `exponent` decimals:
/// `(1990, 2)` -> `"19.90"`, `(-5, 2)` -> `"-0.05"`, `(1500, 0)` -> `"1500"`.
pub fn format(minor: i64, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10_u64.pow(exponent);
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = exponent as usize
    )
}

/// Parses `amount` in `currency`'s minor units; see [`parse`] and [`exponent`].
pub fn minor_units(amount: &str, currency: &str) -> Result<i64, String> {
    parse(amount, exponent(currency)).map_err(|e| format!("{e} ({currency})"))
}

/// Formats `minor` units of `currency`; see [`format`] and [`exponent`].
pub fn decimal(minor: i64, currency: &str) -> String {
    format(minor, exponent(currency))
}

/// A decimal amount as text from a JSON value a vendor sent as a number
/// (`19.9`, `1500`) or as a string (`"19.90"`): `"19.9"`, `"1500"`, `"19.90"`.
/// Anything else (an exponent, a separator, `null`) is an error naming it.
pub fn decimal_of(value: &serde_json::Value) -> Result<String, String> {
    let text = match value {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.trim().to_owned(),
        other => return Err(format!("`{other}` is not an amount")),
    };
    // More decimals than any currency or price list uses is not an amount
    // (and 10^decimals must fit an i64).
    let decimals = text.split_once('.').map_or(0, |(_, d)| d.len()).min(12) as u32;
    parse(&text, decimals).map_err(|_| format!("`{text}` is not a decimal amount"))?;
    Ok(text)
}

/// For `#[serde(deserialize_with = "money::amount")]` on a `String` field: the
/// vendor's number or string as a decimal amount (see [`decimal_of`]).
pub fn amount<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
    decimal_of(&value).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_amounts_as_numbers_or_strings_become_decimals() {
        use serde_json::json;
        assert_eq!(decimal_of(&json!(19.9)).unwrap(), "19.9");
        assert_eq!(decimal_of(&json!(1500)).unwrap(), "1500");
        assert_eq!(decimal_of(&json!(" 19.90")).unwrap(), "19.90");
        assert_eq!(decimal_of(&json!(-0.5)).unwrap(), "-0.5");
        assert!(decimal_of(&json!(1e-9)).is_err());
        assert!(decimal_of(&json!("1,50")).is_err());
        assert!(decimal_of(&json!(null)).is_err());
        #[derive(Debug, serde::Deserialize)]
        struct Line {
            #[serde(deserialize_with = "amount")]
            price: String,
        }
        let line: Line = serde_json::from_value(json!({"price": 4.5})).unwrap();
        assert_eq!(minor_units(&line.price, "EUR").unwrap(), 450);
        let bad = serde_json::from_value::<Line>(json!({"price": true}));
        assert!(bad.unwrap_err().to_string().contains("not an amount"));
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse("19.90", 2), Ok(1990));
        assert_eq!(parse("0.1", 2), Ok(10));
        assert_eq!(parse("5", 2), Ok(500));
        assert_eq!(parse("0.29", 2), Ok(29));
        assert_eq!(parse("-3.05", 2), Ok(-305));
        assert_eq!(parse("1500", 0), Ok(1500));
        assert_eq!(parse("1.5", 3), Ok(1500));
        assert_eq!(minor_units("2500", "JPY"), Ok(2500));
        assert_eq!(minor_units("2.125", "KWD"), Ok(2125));
    }

    #[test]
    fn garbage_and_extra_decimals_are_refused() {
        for amount in [
            "19.999", "", ".5", "5.", "1e3", "1,00", " 1", "+1", "--1", "abc",
        ] {
            assert!(parse(amount, 2).is_err(), "{amount:?} must be refused");
        }
        assert!(minor_units("1500.5", "JPY").is_err());
        assert!(parse("99999999999999999999", 2).is_err());
        let error = minor_units("1.999", "EUR").unwrap_err();
        assert!(
            error.contains("at most 2 decimals") && error.contains("EUR"),
            "{error}"
        );
    }

    #[test]
    fn minor_units_format_exactly() {
        assert_eq!(format(1990, 2), "19.90");
        assert_eq!(format(5, 2), "0.05");
        assert_eq!(format(0, 2), "0.00");
        assert_eq!(format(-310, 2), "-3.10");
        assert_eq!(format(1500, 0), "1500");
        assert_eq!(format(2125, 3), "2.125");
        assert_eq!(format(i64::MIN, 2), "-92233720368547758.08");
        assert_eq!(decimal(1990, "eur"), "19.90");
        for minor in [0, 1, 99, 100, 12345, -7] {
            assert_eq!(parse(&format(minor, 2), 2), Ok(minor));
        }
    }
}
