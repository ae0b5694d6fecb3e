//! Vendure's stored amounts and the canonical decimal strings, exactly.
//!
//! Vendure's default money strategy stores every currency in hundredths of its
//! unit (the yen too: ¥1500 is `150000`). Canonical amounts are decimal strings
//! with the currency's ISO 4217 decimals (`tenon_sdk::money`): `"19.90"` EUR,
//! `"1500"` JPY, `"2.125"` KWD. An amount Vendure cannot hold (a third decimal)
//! is refused, never rounded. Integer minor units (`credit-memos`' `*_cents`)
//! come from hundredths the same way: `(150000, "JPY")` is `1500`.

use tenon_sdk::money;

/// Vendure's `amount` of `currency` (hundredths) as a canonical decimal string
/// with the currency's decimals: `(1990, "EUR")` -> `"19.90"`, `(150000, "JPY")`
/// -> `"1500"`. An amount with a fraction the currency has no decimals for (only
/// possible for a zero-decimal currency) keeps two decimals.
pub fn decimal(hundredths: i64, currency: &str) -> String {
    let exponent = money::exponent(currency);
    if exponent >= 2 {
        let scale = 10_i64.pow(exponent - 2);
        match hundredths.checked_mul(scale) {
            Some(minor) => money::format(minor, exponent),
            None => money::format(hundredths, 2),
        }
    } else {
        let scale = 10_i64.pow(2 - exponent);
        if hundredths % scale == 0 {
            money::format(hundredths / scale, exponent)
        } else {
            money::format(hundredths, 2)
        }
    }
}

/// A canonical decimal `amount` of `currency` as Vendure stores it
/// (hundredths). Refuses what [`money::minor_units`] refuses, and amounts finer
/// than a hundredth.
pub fn hundredths(amount: &str, currency: &str) -> Result<i64, String> {
    let minor = money::minor_units(amount, currency)?;
    let exponent = money::exponent(currency);
    if exponent <= 2 {
        minor
            .checked_mul(10_i64.pow(2 - exponent))
            .ok_or_else(|| format!("`{amount}` ({currency}) is too large"))
    } else {
        let scale = 10_i64.pow(exponent - 2);
        if minor % scale == 0 {
            Ok(minor / scale)
        } else {
            Err(format!(
                "`{amount}` ({currency}) has more decimals than Vendure stores (two)"
            ))
        }
    }
}

/// Vendure's `hundredths` of `currency` in the currency's minor units (ISO
/// 4217 decimals): `(1990, "EUR")` -> `1990`, `(150000, "JPY")` -> `1500`,
/// `(212, "KWD")` -> `2120`. An amount with a fraction of a minor unit (only
/// possible for a zero-decimal currency) is refused.
pub fn minor_units(hundredths: i64, currency: &str) -> Result<i64, String> {
    let exponent = money::exponent(currency);
    if exponent >= 2 {
        hundredths
            .checked_mul(10_i64.pow(exponent - 2))
            .ok_or_else(|| format!("{hundredths} hundredths of {currency} is too large"))
    } else {
        let scale = 10_i64.pow(2 - exponent);
        if hundredths % scale == 0 {
            Ok(hundredths / scale)
        } else {
            Err(format!(
                "{} {currency} is not a whole number of minor units",
                money::format(hundredths, 2)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{decimal, hundredths, minor_units};

    #[test]
    fn hundredths_become_minor_units_exactly() {
        assert_eq!(minor_units(1990, "EUR"), Ok(1990));
        assert_eq!(minor_units(-50, "USD"), Ok(-50));
        assert_eq!(minor_units(150_000, "JPY"), Ok(1500));
        assert_eq!(minor_units(212, "KWD"), Ok(2120));
        let refused = minor_units(150_050, "JPY").unwrap_err();
        assert!(refused.contains("1500.50 JPY"), "{refused}");
        assert!(minor_units(i64::MAX, "KWD").is_err());
    }

    #[test]
    fn hundredths_become_exact_decimals() {
        assert_eq!(decimal(1990, "USD"), "19.90");
        assert_eq!(decimal(5, "EUR"), "0.05");
        assert_eq!(decimal(0, "EUR"), "0.00");
        assert_eq!(decimal(-310, "EUR"), "-3.10");
        assert_eq!(decimal(150_000, "JPY"), "1500");
        assert_eq!(decimal(150_050, "JPY"), "1500.50");
        assert_eq!(decimal(212, "KWD"), "2.120");
        assert_eq!(decimal(i64::MIN, "EUR"), "-92233720368547758.08");
    }

    #[test]
    fn decimals_become_hundredths_or_are_refused() {
        assert_eq!(hundredths("19.90", "EUR"), Ok(1990));
        assert_eq!(hundredths("19.9", "EUR"), Ok(1990));
        assert_eq!(hundredths("1500", "JPY"), Ok(150_000));
        assert_eq!(hundredths("2.120", "KWD"), Ok(212));
        assert!(hundredths("2.125", "KWD").is_err());
        assert!(hundredths("1500.5", "JPY").is_err());
        assert!(hundredths("19.999", "EUR").is_err());
        assert!(hundredths("abc", "EUR").is_err());
        for amount in ["0.00", "19.90", "1234.05"] {
            assert_eq!(decimal(hundredths(amount, "EUR").unwrap(), "EUR"), amount);
        }
    }
}
