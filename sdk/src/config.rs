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

use std::collections::BTreeMap;

use crate::Error;
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
}
