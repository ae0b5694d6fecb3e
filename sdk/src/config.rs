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
