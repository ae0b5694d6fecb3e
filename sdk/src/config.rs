//! The configuration the operator gave this plugin for this tenant
//! (`tenon enable <tenant> <plugin> --config key=value`).
//!
//! Values are plain strings. A key must be declared in the plugin's
//! [`Descriptor`](crate::Descriptor) (see [`describe`](crate::describe)); its
//! declared default applies when the operator gives none. Secrets are not
//! configuration: a plugin names them in an [`http::Credential`](crate::http::Credential)
//! and never sees their values.
//!
//! Do not call these functions from `describe`.
//!
//! Typed: derive [`Config`] on a struct, and its fields are the keys, declared
//! and read alike:
//!
//! ```
//! use tenon_sdk::config::Config;
//!
//! #[derive(Config)]
//! struct Settings {
//!     /// The shop API: http://host:port.
//!     base_url: String,
//!     /// Orders per request.
//!     #[config(default = "50")]
//!     page_size: u32,
//!     /// Only orders of these channels (comma-separated); all when unset.
//!     channels: Vec<String>,
//!     /// The shop's name in logs.
//!     label: Option<String>,
//! }
//!
//! let keys = Settings::keys(); // for `describe`: `config: Settings::keys()`
//! assert_eq!((keys[0].name.as_str(), keys[0].required), ("base_url", true));
//! assert_eq!(keys[1].default.as_deref(), Some("50"));
//! assert!(!keys[2].required && !keys[3].required);
//! // In a call: `let settings = Settings::load()?;`, a permanent error naming
//! // the key when a value is missing or does not parse.
//! ```

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::{ConfigKey, Error};

/// A plugin's configuration as a struct: `#[derive(Config)]` (see the module).
pub trait Config: Sized {
    /// The config keys, one per field, for [`Descriptor::config`](crate::Descriptor).
    fn keys() -> Vec<ConfigKey>;
    /// Every field read from the tenant's configuration.
    fn load() -> Result<Self, Error>;
}

pub use tenon_sdk_macros::Config;

/// A type a config field may have: text, a number, a flag, a comma list
/// (`Vec<String>`), an `a=b` map (`BTreeMap<String, String>`), or an
/// `Option` of one of them.
pub trait Value: Sized {
    /// Whether the key must be set (unless the field has a default).
    const REQUIRED: bool = true;
    /// The value of `key` from its text (`None`: unset or blank).
    fn parse(key: &str, text: Option<&str>) -> Result<Self, Error>;
}

/// The value of `key` as a `T` (what `#[derive(Config)]` calls per field).
pub fn value<T: Value>(key: &str) -> Result<T, Error> {
    let text = get(key);
    T::parse(key, text.as_deref().filter(|t| !t.trim().is_empty()))
}

fn missing(key: &str) -> Error {
    Error::permanent(format!("config key `{key}` is required but not set"))
}

impl Value for String {
    fn parse(key: &str, text: Option<&str>) -> Result<Self, Error> {
        text.map(str::to_owned).ok_or_else(|| missing(key))
    }
}

macro_rules! parsed_values {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl Value for $ty {
            fn parse(key: &str, text: Option<&str>) -> Result<Self, Error> {
                let text = text.ok_or_else(|| missing(key))?.trim();
                <$ty>::from_str(text).map_err(|_| {
                    Error::permanent(format!("config key `{key}`: `{text}` is not {}", $what))
                })
            }
        }
    )*};
}

parsed_values! {
    u16 => "a whole number from 0 to 65535",
    u32 => "a whole number from 0 to 4294967295",
    u64 => "a whole number of 0 or more",
    i64 => "a whole number",
    f64 => "a number",
    bool => "`true` or `false`",
}

impl<T: Value> Value for Option<T> {
    const REQUIRED: bool = false;
    fn parse(key: &str, text: Option<&str>) -> Result<Self, Error> {
        text.map(|text| T::parse(key, Some(text))).transpose()
    }
}

impl Value for Vec<String> {
    const REQUIRED: bool = false;
    fn parse(_key: &str, text: Option<&str>) -> Result<Self, Error> {
        Ok(text.map(parse_list).unwrap_or_default())
    }
}

impl Value for BTreeMap<String, String> {
    const REQUIRED: bool = false;
    fn parse(key: &str, text: Option<&str>) -> Result<Self, Error> {
        text.map_or(Ok(BTreeMap::new()), |text| {
            parse_map(text).map_err(|e| Error::permanent(format!("config key `{key}`: {e}")))
        })
    }
}
use crate::bindings::connector::tenon::connector::config as wit;

/// The value of `key`, or its declared default; `None` if neither is set.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// The value of `key`, or a permanent error naming the key when it is unset or blank.
pub fn require(key: &str) -> Result<String, Error> {
    match get(key) {
        Some(value) if !value.trim().is_empty() => Ok(value),
        Some(_) => Err(Error::permanent(format!("config key `{key}` is empty"))),
        None => Err(Error::permanent(format!(
            "config key `{key}` is required but not set"
        ))),
    }
}

/// The value of `key` as a map, `from=to` pairs separated by commas
/// (`en_US=en, fr_FR=fr`); `None` when the key is unset or blank, a permanent
/// error naming the key when it does not parse.
pub fn map(key: &str) -> Result<Option<BTreeMap<String, String>>, Error> {
    match get(key) {
        Some(text) if !text.trim().is_empty() => parse_map(&text)
            .map(Some)
            .map_err(|e| Error::permanent(format!("config key `{key}`: {e}"))),
        _ => Ok(None),
    }
}

/// The value of `key` as a comma-separated list of trimmed, non-empty items;
/// `None` when the key is unset or blank.
pub fn list(key: &str) -> Option<Vec<String>> {
    get(key)
        .map(|text| parse_list(&text))
        .filter(|items| !items.is_empty())
}

/// Parses `a=b, c=d` into a map; refuses an item without `=`, an empty side and
/// a key given twice.
pub fn parse_map(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for item in parse_list(text) {
        let (from, to) = item
            .split_once('=')
            .map(|(from, to)| (from.trim(), to.trim()))
            .filter(|(from, to)| !from.is_empty() && !to.is_empty())
            .ok_or_else(|| format!("`{item}` is not `from=to`"))?;
        if map.insert(from.to_owned(), to.to_owned()).is_some() {
            return Err(format!("`{from}` is mapped twice"));
        }
    }
    Ok(map)
}

/// Splits on commas, trims, drops empty items.
pub fn parse_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_lists_parse() {
        let map = parse_map(" en_US=en , fr_FR = fr,").unwrap();
        assert_eq!(map["en_US"], "en");
        assert_eq!(map["fr_FR"], "fr");
        assert_eq!(map.len(), 2);
        assert_eq!(parse_list("EUR, ,USD"), ["EUR", "USD"]);
        assert!(
            parse_map("WH")
                .unwrap_err()
                .contains("`WH` is not `from=to`")
        );
        assert!(parse_map("WH=").is_err());
        assert!(parse_map("WH=a,WH=b").unwrap_err().contains("twice"));
        assert!(parse_map("").unwrap().is_empty());
    }

    #[test]
    fn typed_values_parse_or_name_their_key() {
        assert_eq!(u32::parse("page_size", Some(" 50 ")).unwrap(), 50);
        let error = format!("{:?}", u32::parse("page_size", Some("fifty")).unwrap_err());
        assert!(
            error.contains("config key `page_size`: `fifty` is not a whole number"),
            "{error}"
        );
        let error = format!("{:?}", String::parse("base_url", None).unwrap_err());
        assert!(
            error.contains("`base_url` is required but not set"),
            "{error}"
        );
        assert_eq!(Option::<u32>::parse("n", None).unwrap(), None);
        assert!(
            Option::<u32>::parse("n", Some("x")).is_err(),
            "set, it must parse"
        );
        assert_eq!(
            Vec::<String>::parse("c", Some("a, b,")).unwrap(),
            ["a", "b"]
        );
        assert!(Vec::<String>::parse("c", None).unwrap().is_empty());
        assert!(BTreeMap::<String, String>::parse("m", Some("a")).is_err());
        assert!(bool::parse("flag", Some("yes")).is_err());
    }

    #[test]
    fn the_derive_declares_each_field_as_a_key() {
        /// Not a config: the derive reads its fields only.
        #[derive(Config)]
        #[allow(dead_code)]
        struct Settings {
            /// The shop API:
            /// http://host:port.
            base_url: String,
            #[config(default = "50")]
            page_size: u32,
            label: Option<String>,
            mapping: BTreeMap<String, String>,
        }
        let keys = Settings::keys();
        let summary: Vec<(&str, &str, bool, Option<&str>)> = keys
            .iter()
            .map(|k| {
                (
                    k.name.as_str(),
                    k.description.as_str(),
                    k.required,
                    k.default.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("base_url", "The shop API: http://host:port.", true, None),
                ("page_size", "", false, Some("50")),
                ("label", "", false, None),
                ("mapping", "", false, None),
            ]
        );
    }
}
