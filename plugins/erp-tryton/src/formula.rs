//! Tryton price-list formulas, the safe subset: a fixed amount (`8.75`,
//! `Decimal('8.75')`), a base price (`unit_price`, `list_price`,
//! `cost_price`), or a base price times a factor (`unit_price * 0.9`,
//! `0.9 * list_price`, `list_price * Decimal('0.85')`). Anything else
//! (sums, functions, conditions) is refused with the reason; nothing is ever
//! evaluated as code. Arithmetic is exact ([`Dec`]): Tryton writes decimal
//! literals as `Decimal`s too, then rounds the result to its price digits
//! (four, half to even), which [`tryton_price`] does. Pure.

use std::cmp::Ordering;

/// The decimals Tryton keeps on prices (`[product] price_decimal`, 4 by default).
pub const PRICE_DIGITS: u32 = 4;

/// The most decimals a number in a formula or a price may have.
const MAX_SCALE: u32 = 18;

/// An exact decimal number: `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy)]
pub struct Dec {
    mantissa: i128,
    scale: u32,
}

impl PartialEq for Dec {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Dec {}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dec {
    fn cmp(&self, other: &Self) -> Ordering {
        let scale = self.scale.max(other.scale);
        match (self.rescaled(scale), other.rescaled(scale)) {
            (Some(a), Some(b)) => a.cmp(&b),
            // Too large to align: compare as floats, which is enough to order.
            _ => self.approx().total_cmp(&other.approx()),
        }
    }
}

impl Dec {
    /// `digits[.digits]` with an optional leading `-`; `None` for anything
    /// else (exponents, separators, more than 18 decimals).
    pub fn parse(text: &str) -> Option<Dec> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
            return None;
        }
        if digits.ends_with('.') || fraction.len() > MAX_SCALE as usize {
            return None;
        }
        let mantissa: i128 = format!("{whole}{fraction}").parse().ok()?;
        Some(Dec {
            mantissa: if negative { -mantissa } else { mantissa },
            scale: fraction.len() as u32,
        })
    }

    /// The number of minor units `minor` with `exponent` decimals: `(1990, 2)` is 19.90.
    pub fn from_minor(minor: i64, exponent: u32) -> Dec {
        Dec {
            mantissa: i128::from(minor),
            scale: exponent,
        }
    }

    /// The exact product, or `None` if it does not fit.
    pub fn checked_mul(self, other: Dec) -> Option<Dec> {
        let scale = self.scale + other.scale;
        let mantissa = self.mantissa.checked_mul(other.mantissa)?;
        Dec { mantissa, scale }.normalized()
    }

    /// Whether it is below zero.
    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// Rounded to `scale` decimals, ties to the even neighbour (Python's
    /// `Decimal.quantize` default and Tryton's currency rounding).
    pub fn round_half_even(self, scale: u32) -> Dec {
        if self.scale <= scale {
            return self;
        }
        let divisor = 10_i128.pow(self.scale - scale);
        let quotient = self.mantissa.div_euclid(divisor);
        let remainder = self.mantissa.rem_euclid(divisor);
        let twice = remainder * 2;
        let up = match twice.cmp(&divisor) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => quotient % 2 != 0,
        };
        Dec {
            mantissa: quotient + i128::from(up),
            scale,
        }
    }

    /// Minor units with `exponent` decimals, if it has no more decimals than
    /// that (after dropping trailing zeros) and fits an `i64`.
    pub fn to_minor(self, exponent: u32) -> Option<i64> {
        let scaled = if self.scale <= exponent {
            self.mantissa
                .checked_mul(10_i128.pow(exponent - self.scale))?
        } else {
            let divisor = 10_i128.pow(self.scale - exponent);
            if self.mantissa % divisor != 0 {
                return None;
            }
            self.mantissa / divisor
        };
        i64::try_from(scaled).ok()
    }

    /// The mantissa at `scale` decimals, if that does not lose digits or overflow.
    fn rescaled(self, scale: u32) -> Option<i128> {
        let up = scale.checked_sub(self.scale)?;
        self.mantissa.checked_mul(10_i128.checked_pow(up)?)
    }

    /// Trailing zeros dropped until the scale is at most [`MAX_SCALE`]; `None`
    /// if digits would be lost.
    fn normalized(mut self) -> Option<Dec> {
        while self.scale > 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        (self.scale <= MAX_SCALE * 2).then_some(self)
    }

    fn approx(self) -> f64 {
        self.mantissa as f64 / 10_f64.powi(self.scale as i32)
    }
}

impl std::fmt::Display for Dec {
    /// With its own number of decimals: `9.50`, `-0.05`, `7`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{whole}.{fraction}")
    }
}

/// A price a formula starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// `unit_price`: the price list's own base (its `price` field: the list
    /// price, the cost price, or nothing).
    Unit,
    /// `list_price`: the product's list price.
    List,
    /// `cost_price`: the product's cost price.
    Cost,
}

impl Base {
    fn parse(name: &str) -> Option<Base> {
        match name {
            "unit_price" => Some(Base::Unit),
            "list_price" => Some(Base::List),
            "cost_price" => Some(Base::Cost),
            _ => None,
        }
    }
}

/// The base prices of one product for a formula; `None` is Tryton's null
/// (no base price: `unit_price` of a list without a `price`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Bases {
    pub unit_price: Option<Dec>,
    pub list_price: Option<Dec>,
    pub cost_price: Option<Dec>,
}

/// A formula of the safe subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formula {
    /// A fixed amount.
    Fixed(Dec),
    /// A base price times a factor (1 for the base alone).
    Scaled { base: Base, factor: Dec },
}

/// One operand: a number or a base price.
enum Term {
    Number(Dec),
    Base(Base),
}

impl Formula {
    /// Parses `text`, or says why it is outside the subset.
    pub fn parse(text: &str) -> Result<Formula, String> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Err("the formula is empty".to_owned());
        }
        let terms: Vec<&str> = compact.split('*').collect();
        let unsupported = || {
            format!(
                "only a fixed amount, a base price (unit_price, list_price, cost_price) or a \
                 base price times a number is published, not `{}`",
                text.trim()
            )
        };
        if terms.len() > 2 {
            return Err(unsupported());
        }
        let terms = terms
            .iter()
            .map(|term| parse_term(term).ok_or_else(unsupported))
            .collect::<Result<Vec<_>, _>>()?;
        let formula = match terms.as_slice() {
            [Term::Number(amount)] => Formula::Fixed(*amount),
            [Term::Base(base)] => Formula::Scaled {
                base: *base,
                factor: Dec::from_minor(1, 0),
            },
            [Term::Number(a), Term::Number(b)] => {
                Formula::Fixed(a.checked_mul(*b).ok_or_else(unsupported)?)
            }
            [Term::Base(base), Term::Number(factor)] | [Term::Number(factor), Term::Base(base)] => {
                Formula::Scaled {
                    base: *base,
                    factor: *factor,
                }
            }
            _ => return Err(unsupported()),
        };
        Ok(formula)
    }

    /// The price for `bases`, as Tryton keeps it ([`tryton_price`]); `Ok(None)`
    /// when the base it needs is null (Tryton gives no price then).
    pub fn eval(&self, bases: &Bases) -> Result<Option<Dec>, String> {
        let exact = match *self {
            Formula::Fixed(amount) => amount,
            Formula::Scaled { base, factor } => {
                let Some(price) = (match base {
                    Base::Unit => bases.unit_price,
                    Base::List => bases.list_price,
                    Base::Cost => bases.cost_price,
                }) else {
                    return Ok(None);
                };
                price
                    .checked_mul(factor)
                    .ok_or_else(|| "the price does not fit".to_owned())?
            }
        };
        Ok(Some(tryton_price(exact)))
    }
}

/// `text` as a number (`0.9`, `Decimal('0.9')`, `Decimal("0.9")`) or a base name.
fn parse_term(text: &str) -> Option<Term> {
    if let Some(base) = Base::parse(text) {
        return Some(Term::Base(base));
    }
    let number = text
        .strip_prefix("Decimal(")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|quoted| {
            quoted
                .strip_prefix('\'')
                .and_then(|q| q.strip_suffix('\''))
                .or_else(|| quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')))
        })
        .unwrap_or(text);
    Dec::parse(number).map(Term::Number)
}

/// What Tryton keeps of a computed price: [`PRICE_DIGITS`] decimals, ties to even.
pub fn tryton_price(exact: Dec) -> Dec {
    exact.round_half_even(PRICE_DIGITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Dec {
        Dec::parse(text).unwrap()
    }

    fn bases(list: &str) -> Bases {
        Bases {
            unit_price: Some(d(list)),
            list_price: Some(d(list)),
            cost_price: Some(d("4.00")),
        }
    }

    #[test]
    fn decimals_parse_compare_and_print_exactly() {
        assert_eq!(d("9.50"), d("9.5"));
        assert!(d("9.49") < d("9.5"));
        assert_eq!(d("9.50").to_string(), "9.50");
        assert_eq!(d("-0.05").to_string(), "-0.05");
        assert_eq!(Dec::from_minor(5, 2).to_string(), "0.05");
        assert_eq!(Dec::from_minor(1500, 0).to_string(), "1500");
        for bad in [
            "",
            "1e3",
            "1,5",
            "1.",
            ".5",
            "--1",
            "abc",
            "1.0000000000000000001",
        ] {
            assert!(Dec::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(d("19.9000").to_minor(2), Some(1990));
        assert_eq!(d("18.905").to_minor(2), None);
        assert_eq!(d("7").to_minor(3), Some(7000));
    }

    #[test]
    fn rounding_is_half_to_even_like_python_decimal() {
        assert_eq!(d("18.905").round_half_even(2).to_string(), "18.90");
        assert_eq!(d("18.915").round_half_even(2).to_string(), "18.92");
        assert_eq!(d("18.9051").round_half_even(2).to_string(), "18.91");
        assert_eq!(d("-2.345").round_half_even(2).to_string(), "-2.34");
        assert_eq!(d("2.5").round_half_even(0).to_string(), "2");
        assert_eq!(d("3.5").round_half_even(0).to_string(), "4");
        assert_eq!(d("1.23456").round_half_even(4).to_string(), "1.2346");
        assert_eq!(d("1.2").round_half_even(4).to_string(), "1.2");
    }

    #[test]
    fn the_safe_formulas_evaluate_exactly() {
        let mug = bases("9.50");
        let eval = |text: &str| Formula::parse(text).unwrap().eval(&mug).unwrap().unwrap();
        assert_eq!(eval("unit_price * 0.8"), d("7.60"));
        assert_eq!(eval("0.8*unit_price"), d("7.6"));
        assert_eq!(eval("list_price * Decimal('0.85')"), d("8.075"));
        assert_eq!(eval("unit_price*Decimal(\"0.9\")"), d("8.55"));
        assert_eq!(eval("cost_price * 1.25"), d("5"));
        assert_eq!(eval("list_price"), d("9.5"));
        assert_eq!(eval("8.75"), d("8.75"));
        assert_eq!(eval("Decimal('7.5')"), d("7.5"));
        assert_eq!(eval("2 * 3.5"), d("7"));
        // Tryton keeps four decimals: 9.99 / 3 is not a formula, but 9.99 * 0.33333 is.
        assert_eq!(eval("unit_price * 0.333333"), d("3.1667"));
        // Floats would say 0.1 * 3 = 0.30000000000000004.
        let tenth = Bases {
            unit_price: Some(d("0.1")),
            ..Bases::default()
        };
        let triple = Formula::parse("unit_price * 3").unwrap();
        assert_eq!(triple.eval(&tenth).unwrap(), Some(d("0.3")));
    }

    #[test]
    fn other_formulas_are_refused_with_the_reason() {
        for bad in [
            "unit_price * 0.9 + 1",
            "unit_price - 1",
            "unit_price * 0.9 * 2",
            "max(unit_price, 5)",
            "__import__('os')",
            "unit_price / 2",
            "unit_price * unit_price",
            "price * 0.9",
            "",
            "Decimal(0.9) * unit_price",
        ] {
            let why = Formula::parse(bad).unwrap_err();
            assert!(
                why.contains("fixed amount") || why.contains("empty"),
                "{bad}: {why}"
            );
        }
    }

    #[test]
    fn a_null_base_gives_no_price() {
        let no_base = Bases {
            unit_price: None,
            list_price: Some(d("9.50")),
            cost_price: None,
        };
        let formula = Formula::parse("unit_price * 0.9").unwrap();
        assert_eq!(formula.eval(&no_base).unwrap(), None);
        let fixed = Formula::parse("5.00").unwrap();
        assert_eq!(fixed.eval(&no_base).unwrap(), Some(d("5")));
    }
}
