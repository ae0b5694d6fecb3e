//! The JSON-RPC client: `POST {base_url}/{database}/rpc/` with the tenant's
//! session as `Authorization`, the user's context added to every model call.
//! Owns error mapping of Tryton's answers; knows no model.

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::prelude::*;

use crate::settings::Settings;

/// The tenant secret holding the `Authorization` header value.
pub const SESSION_SECRET: &str = "session";

/// A Tryton database reached with this tenant's session.
pub struct Tryton {
    client: Client,
    path: String,
    /// The user's preferences (`company`, `language`, ...): the context of every call.
    pub context: Value,
}

/// A JSON-RPC answer.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error: Value,
}

impl Tryton {
    /// Connects with the tenant's settings and session and loads the user's context.
    pub fn connect(settings: &Settings) -> Result<Self, Error> {
        let mut tryton = Self {
            client: Client::new(settings.base_url.trim_end_matches('/')).credential(SESSION_SECRET),
            path: format!("/{}/rpc/", settings.database),
            context: json!({}),
        };
        tryton.context = tryton.call("model.res.user.get_preferences", json!([true, {}]))?;
        if tryton.context.get("company").is_none_or(Value::is_null) {
            return Err(Error::permanent(
                "the Tryton user has no company: set one (products and sales need it)",
            ));
        }
        Ok(tryton)
    }

    /// Calls `method` with `params` as given.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, Error> {
        let body = json!({"id": 1, "method": method, "params": params});
        let response = self.client.post(&self.path).json(&body)?.send()?;
        if matches!(response.status(), 401 | 403) {
            return Err(Error::denied(format!(
                "Tryton refused the session (HTTP {}): log in again and update the secret `{SESSION_SECRET}`",
                response.status()
            )));
        }
        let answer: Answer = response.error_for_status()?.json()?;
        if !answer.error.is_null() {
            return Err(tryton_error(method, &answer.error));
        }
        Ok(answer.result)
    }

    /// Calls `model.{model}.{method}` with `args` and the user's context last.
    pub fn model(&self, model: &str, method: &str, args: Vec<Value>) -> Result<Value, Error> {
        let mut params = args;
        params.push(self.context.clone());
        self.call(&format!("model.{model}.{method}"), Value::Array(params))
    }

    /// `search_read(domain, 0, limit, order, fields)` on `model`.
    pub fn search_read(
        &self,
        model: &str,
        domain: Value,
        limit: Option<u32>,
        order: Value,
        fields: &[&str],
    ) -> Result<Vec<Value>, Error> {
        let rows = self.model(
            model,
            "search_read",
            vec![domain, json!(0), json!(limit), order, json!(fields)],
        )?;
        serde_json::from_value(rows)
            .map_err(|e| Error::permanent(format!("unexpected answer of {model}.search_read: {e}")))
    }

    /// The ids of `model` matching `domain`, at most `limit`.
    pub fn search(&self, model: &str, domain: Value, limit: u32) -> Result<Vec<i64>, Error> {
        self.search_ordered(model, domain, limit, Value::Null)
    }

    /// The ids of `model` matching `domain` in `order` (`[["id", "ASC"]]`), at
    /// most `limit`.
    pub fn search_ordered(
        &self,
        model: &str,
        domain: Value,
        limit: u32,
        order: Value,
    ) -> Result<Vec<i64>, Error> {
        let ids = self.model(model, "search", vec![domain, json!(0), json!(limit), order])?;
        serde_json::from_value(ids)
            .map_err(|e| Error::permanent(format!("unexpected answer of {model}.search: {e}")))
    }

    /// Writes `values` to the records `ids` of `model`.
    pub fn write(&self, model: &str, ids: &[i64], values: Value) -> Result<(), Error> {
        self.model(model, "write", vec![json!(ids), values])?;
        Ok(())
    }

    /// Runs the workflow step or button `method` (`quote`, `cancel`...) on
    /// the records `ids` of `model`.
    pub fn button(&self, model: &str, method: &str, ids: &[i64]) -> Result<(), Error> {
        self.model(model, method, vec![json!(ids)])?;
        Ok(())
    }

    /// Deletes the records `ids` of `model`.
    pub fn delete(&self, model: &str, ids: &[i64]) -> Result<(), Error> {
        if !ids.is_empty() {
            self.model(model, "delete", vec![json!(ids)])?;
        }
        Ok(())
    }

    /// `read(ids, fields)` on `model`: the rows Tryton has, in its order.
    pub fn read(&self, model: &str, ids: &[i64], fields: &[&str]) -> Result<Vec<Value>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.model(model, "read", vec![json!(ids), json!(fields)])?;
        serde_json::from_value(rows)
            .map_err(|e| Error::permanent(format!("unexpected answer of {model}.read: {e}")))
    }

    /// Which of `fields` `model` has (modules add fields: `credit_limit_amount`
    /// exists only with `account_credit_limit`).
    pub fn has_fields(&self, model: &str, fields: &[&str]) -> Result<Vec<String>, Error> {
        let known = self.model(model, "fields_get", vec![json!(fields)])?;
        Ok(fields
            .iter()
            .filter(|field| known.get(**field).is_some())
            .map(|field| (*field).to_owned())
            .collect())
    }

    /// The id of the user's company.
    pub fn company(&self) -> Value {
        self.context["company"].clone()
    }

    /// The ISO code of the company's currency (what its amounts are in).
    pub fn company_currency(&self) -> Result<String, Error> {
        let rows = self.read("company.company", &[self.company_id()?], &["currency.code"])?;
        rows.first()
            .and_then(|row| row["currency."]["code"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::permanent("the Tryton company has no currency"))
    }

    /// The id of the user's company as a number.
    pub fn company_id(&self) -> Result<i64, Error> {
        self.context["company"]
            .as_i64()
            .ok_or_else(|| Error::permanent("the Tryton user has no company"))
    }

    /// Creates one record of `model`; its id.
    pub fn create(&self, model: &str, values: Value) -> Result<i64, Error> {
        let ids = self.model(model, "create", vec![json!([values])])?;
        ids.get(0)
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::permanent(format!("{model}.create answered no id: {ids}")))
    }
}

/// Tryton's `error` member as an [`Error`]: user and access errors are
/// permanent; anything else (a concurrency conflict, a server fault) retryable.
fn tryton_error(method: &str, error: &Value) -> Error {
    let kind = error.get(0).and_then(Value::as_str).unwrap_or("");
    let detail = match error.get(1) {
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        Some(Value::String(text)) => text.clone(),
        _ => error.to_string(),
    };
    let detail: String = detail.chars().take(300).collect();
    let message = format!("Tryton {method}: {kind}: {detail}");
    match kind {
        "UserError"
        | "UserWarning"
        | "AccessError"
        | "DomainValidationError"
        | "RequiredValidationError"
        | "SelectionValidationError"
        | "SizeValidationError"
        | "DigitsValidationError"
        | "ForbiddenCharValidationError"
        | "RecursionError"
        | "SQLConstraintError"
        | "ImportDataError" => Error::permanent(message),
        _ if kind.ends_with("ValidationError") => Error::permanent(message),
        _ => Error::retryable(message),
    }
}
