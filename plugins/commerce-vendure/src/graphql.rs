//! One request to Vendure's Admin GraphQL API, authenticated with the tenant's
//! `api_token`; GraphQL errors become [`Error`]s. Owns no stream logic.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tenon_sdk::prelude::*;

/// The tenant secret holding a Vendure session token (bearer).
pub const TOKEN_SECRET: &str = "api_token";

/// Where Vendure serves the Admin API unless configured otherwise.
pub const DEFAULT_ADMIN_API_PATH: &str = "admin-api";

#[derive(Serialize)]
struct Body<'a> {
    query: &'a str,
    variables: Value,
}

/// Runs `query` with `variables` and decodes its `data` as `T`.
///
/// Transport and status errors map as the SDK maps them. A GraphQL error with
/// code `FORBIDDEN` (the token is wrong or expired) is `denied`; other GraphQL
/// errors are `permanent`, quoting Vendure's message.
pub fn query<T: DeserializeOwned>(query: &str, variables: Value) -> Result<T, Error> {
    let base_url = config::require("base_url")?;
    let path = config::get("admin_api_path").unwrap_or_else(|| DEFAULT_ADMIN_API_PATH.to_owned());
    let client = Client::new(base_url).credential(TOKEN_SECRET);
    let mut answer: Value = client.post_json(
        &format!("/{}", path.trim_start_matches('/')),
        &Body { query, variables },
        None,
    )?;
    if let Some(errors) = answer.get("errors").and_then(Value::as_array)
        && let Some(first) = errors.first()
    {
        let message = first["message"].as_str().unwrap_or("unknown error");
        let code = first["extensions"]["code"].as_str().unwrap_or("");
        return Err(if code == "FORBIDDEN" {
            Error::denied(format!(
                "Vendure refused the request ({code}: {message}): log in again and update the secret `api_token`"
            ))
        } else {
            Error::permanent(format!("Vendure answered an error ({code}): {message}"))
        });
    }
    serde_json::from_value(answer["data"].take())
        .map_err(|e| Error::permanent(format!("Vendure's answer has an unexpected shape: {e}")))
}
