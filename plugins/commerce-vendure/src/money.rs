//! Vendure's integer minor units as the decimal strings of the `orders` payload.

/// `1990` -> `"19.90"`, `-5` -> `"-0.05"`: two decimals, exactly (Vendure's
/// default money strategy stores every currency in hundredths).
pub fn decimal(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn minor_units_become_exact_decimals() {
        assert_eq!(decimal(1990), "19.90");
        assert_eq!(decimal(3980), "39.80");
        assert_eq!(decimal(5), "0.05");
        assert_eq!(decimal(0), "0.00");
        assert_eq!(decimal(-310), "-3.10");
        assert_eq!(decimal(i64::MIN), "-92233720368547758.08");
    }
}
