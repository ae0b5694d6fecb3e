//! One request to Vendure's Admin GraphQL API, authenticated with the tenant's
//! `api_token`, in the default channel or in a channel named by its token;
//! GraphQL errors become [`Error`]s. Owns no stream logic.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tenon_sdk::prelude::*;

/// The tenant secret holding a Vendure session token (bearer).
pub const TOKEN_SECRET: &str = "api_token";

/// Where Vendure serves the Admin API unless configured otherwise.
pub const DEFAULT_ADMIN_API_PATH: &str = "admin-api";

/// The header that picks the channel a request acts in (Vendure's
/// `apiOptions.channelTokenKey`); without it, the default channel.
const CHANNEL_HEADER: &str = "vendure-token";

/// What a refusal of a query that uses custom fields adds: the B2B streams
/// need the server configured.
const CONFIGURATION_HINT: &str = "the B2B streams need the Vendure server configured as docs/connectors/commerce-vendure.md says (\"Server configuration\": custom fields, the OnHold order state, the B2B channel gate)";

#[derive(Serialize)]
struct Body<'a> {
    query: &'a str,
    variables: Value,
}

/// Runs `query` with `variables` in the default channel and decodes its
/// `data` as `T`.
///
/// Transport and status errors map as the SDK maps them. A GraphQL error with
/// code `FORBIDDEN` (the token is wrong or expired) is `denied`; other GraphQL
/// errors are `permanent`, quoting Vendure's message.
pub fn query<T: DeserializeOwned>(query: &str, variables: Value) -> Result<T, Error> {
    query_in(None, query, variables)
}

/// [`query`] in the channel whose token is `channel` (the default channel for
/// `None`).
pub fn query_in<T: DeserializeOwned>(
    channel: Option<&str>,
    query: &str,
    variables: Value,
) -> Result<T, Error> {
    let base_url = config::require("base_url")?;
    let path = config::get("admin_api_path").unwrap_or_else(|| DEFAULT_ADMIN_API_PATH.to_owned());
    let client = Client::new(base_url).credential(TOKEN_SECRET);
    let mut request = client
        .post(&format!("/{}", path.trim_start_matches('/')))
        .json(&Body { query, variables })?;
    if let Some(token) = channel {
        request = request.header(CHANNEL_HEADER, token);
    }
    let response = request.send()?;
    // Vendure answers a query that does not validate (a field the schema does
    // not have) with 400 and GraphQL errors: quote those, not the HTTP status.
    let mut answer: Value = if response.status() == 400 {
        match response.json::<Value>() {
            Ok(answer) if answer.get("errors").is_some() => answer,
            _ => response.error_for_status()?.json()?,
        }
    } else {
        response.error_for_status()?.json()?
    };
    if let Some(errors) = answer.get("errors").and_then(Value::as_array)
        && let Some(first) = errors.first()
    {
        let message = first["message"].as_str().unwrap_or("unknown error");
        let code = first["extensions"]["code"].as_str().unwrap_or("");
        return Err(refusal(code, message, query));
    }
    serde_json::from_value(answer["data"].take())
        .map_err(|e| Error::permanent(format!("Vendure's answer has an unexpected shape: {e}")))
}

/// The error of a GraphQL error with `code` and `message` answering `query`.
fn refusal(code: &str, message: &str, query: &str) -> Error {
    if code == "FORBIDDEN" {
        return Error::denied(format!(
            "Vendure refused the request ({code}: {message}): log in again and update the secret `api_token`"
        ));
    }
    let mut text = format!("Vendure answered an error ({code}): {message}");
    if code == "GRAPHQL_VALIDATION_FAILED" && query.contains("customFields") {
        text.push_str("; ");
        text.push_str(CONFIGURATION_HINT);
    }
    Error::permanent(text)
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn a_missing_custom_field_points_at_the_server_configuration() {
        let e = refusal(
            "GRAPHQL_VALIDATION_FAILED",
            "Cannot query field \"accountCode\" on type \"CustomerCustomFields\".",
            "{ customers { items { customFields { accountCode } } } }",
        );
        assert!(e.message().contains("Server configuration"), "{e:?}");
        let e = refusal("GRAPHQL_VALIDATION_FAILED", "nope", "{ me { id } }");
        assert!(!e.message().contains("Server configuration"), "{e:?}");
        assert!(matches!(
            refusal("FORBIDDEN", "no", "{}"),
            tenon_sdk::Error::Denied(_)
        ));
    }
}
