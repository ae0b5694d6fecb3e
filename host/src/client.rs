//! The admin API's client: what `tenon --server URL --token TOKEN ...` uses to
//! act on a running `tenon serve` (which holds the data folder). One method per
//! API call, answering the same types the local operations do; an error answer
//! becomes a [`Refusal`] carrying the API's message and the CLI's exit code.

use crate::delivery::{AuditEntry, DeadLetter, Retry};
use crate::dlq::Replayed;
use crate::flow::{Flow, Run};
use crate::plugin::Installed;
use crate::reconcile::Reconciliation;
use crate::server::api::{CursorView, EnableBody, FlowRow, TenantRow, VersionRow};
use crate::tenant::EnablementView;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A failed API call: the server's message, and the exit code the same failure
/// has on the local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub exit_code: u8,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit code of an error answer, by its `kind`: as [`crate::Error::exit_code`].
fn exit_code(kind: &str) -> u8 {
    match kind {
        "not-found" => 3,
        "invalid" | "unauthorized" | "forbidden" | "conflict" | "too-many-requests" => 4,
        "call-failed" => 5,
        _ => 1,
    }
}

/// A client of one server, with one token.
#[derive(Debug, Clone)]
pub struct Client {
    /// `http://127.0.0.1:7878`, without a trailing slash.
    base: String,
    token: String,
    http: reqwest::Client,
}

pub type Result<T> = std::result::Result<T, Refusal>;

impl Client {
    pub fn new(server: &str, token: &str) -> Client {
        Client {
            base: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request to `/api/v1{path}` with an optional JSON body; decodes a
    /// 2xx answer as `T`, anything else as a [`Refusal`].
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let unreachable = |e: reqwest::Error| Refusal {
            message: format!("could not reach the server at {}: {e}", self.base),
            exit_code: 1,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| Refusal {
                message: format!("{method} {path}: the server's answer is not understood: {e}"),
                exit_code: 1,
            });
        }
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message = answer["error"].as_str().map_or_else(
            || format!("{method} {path} answered {status}"),
            str::to_owned,
        );
        Err(Refusal {
            message,
            exit_code: exit_code(answer["kind"].as_str().unwrap_or("internal")),
        })
    }

    /// A backup of the server's data folder, as the file holds it (checked
    /// whole by [`crate::backup::save`] before it is written anywhere).
    pub async fn backup(&self) -> Result<Vec<u8>> {
        let url = format!("{}/api/v1/state/backup", self.base);
        let unreachable = |e: reqwest::Error| Refusal {
            message: format!("could not reach the server at {}: {e}", self.base),
            exit_code: 1,
        };
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(Refusal {
            message: answer["error"].as_str().map_or_else(
                || format!("GET /state/backup answered {status}"),
                str::to_owned,
            ),
            exit_code: exit_code(answer["kind"].as_str().unwrap_or("internal")),
        })
    }

    pub async fn plugins(&self) -> Result<Vec<Installed>> {
        self.call(Method::GET, "/plugins", None).await
    }

    /// Every installed version of a plugin, the current one marked.
    pub async fn plugin_versions(&self, plugin: &str) -> Result<Vec<VersionRow>> {
        self.call(Method::GET, &format!("/plugins/{plugin}/versions"), None)
            .await
    }

    /// Rolls a plugin back; answers the now current version.
    pub async fn rollback(&self, plugin: &str) -> Result<Installed> {
        self.call(Method::POST, &format!("/plugins/{plugin}/rollback"), None)
            .await
    }

    pub async fn tenants(&self) -> Result<Vec<TenantRow>> {
        self.call(Method::GET, "/tenants", None).await
    }

    /// Trusted publishers and whose each plugin name is.
    pub async fn publishers(&self) -> Result<Value> {
        self.call(Method::GET, "/publishers", None).await
    }

    pub async fn trust(&self, name: &str, key: &str) -> Result<crate::publishers::Publisher> {
        let body = serde_json::json!({ "name": name, "key": key });
        self.call(Method::POST, "/publishers", Some(body)).await
    }

    pub async fn distrust(&self, name: &str) -> Result<crate::publishers::Publisher> {
        self.call(Method::DELETE, &format!("/publishers/{name}"), None)
            .await
    }

    /// A tenant with its policy.
    pub async fn policy(&self, tenant: &str) -> Result<crate::tenant::Tenant> {
        self.call(Method::GET, &format!("/tenants/{tenant}/policy"), None)
            .await
    }

    /// Replaces a tenant's policy; answers the tenant with it.
    pub async fn set_policy(
        &self,
        tenant: &str,
        policy: &crate::tenant::Policy,
    ) -> Result<crate::tenant::Tenant> {
        let body = serde_json::to_value(policy).expect("a policy serialises");
        self.call(
            Method::PUT,
            &format!("/tenants/{tenant}/policy"),
            Some(body),
        )
        .await
    }

    pub async fn enable(
        &self,
        tenant: &str,
        plugin: &str,
        settings: &EnableBody,
    ) -> Result<EnablementView> {
        let body = serde_json::to_value(settings).expect("settings serialise");
        self.call(
            Method::PUT,
            &format!("/tenants/{tenant}/plugins/{plugin}"),
            Some(body),
        )
        .await
    }

    pub async fn disable(&self, tenant: &str, plugin: &str) -> Result<Value> {
        self.call(
            Method::DELETE,
            &format!("/tenants/{tenant}/plugins/{plugin}"),
            None,
        )
        .await
    }

    pub async fn flows(&self, tenant: Option<&str>) -> Result<Vec<FlowRow>> {
        let query = tenant.map(|t| format!("?tenant={t}")).unwrap_or_default();
        self.call(Method::GET, &format!("/flows{query}"), None)
            .await
    }

    /// Runs a flow now and waits for its record.
    pub async fn run_flow(&self, tenant: &str, flow: &str) -> Result<Run> {
        self.call(
            Method::POST,
            &format!("/tenants/{tenant}/flows/{flow}/run?wait=true"),
            None,
        )
        .await
    }

    /// A flow's cursor.
    pub async fn cursor(&self, tenant: &str, flow: &str) -> Result<Option<String>> {
        let view: CursorView = self
            .call(
                Method::GET,
                &format!("/tenants/{tenant}/flows/{flow}/cursor"),
                None,
            )
            .await?;
        Ok(view.cursor)
    }

    /// Sets a flow's cursor (`None`: from the start); returns the one it replaced.
    pub async fn set_cursor(
        &self,
        tenant: &str,
        flow: &str,
        cursor: Option<&str>,
    ) -> Result<Option<String>> {
        let view: CursorView = self
            .call(
                Method::PUT,
                &format!("/tenants/{tenant}/flows/{flow}/cursor"),
                Some(serde_json::json!({ "cursor": cursor })),
            )
            .await?;
        Ok(view.before.flatten())
    }

    pub async fn remove_flow(&self, tenant: &str, flow: &str) -> Result<Flow> {
        self.call(
            Method::DELETE,
            &format!("/tenants/{tenant}/flows/{flow}"),
            None,
        )
        .await
    }

    pub async fn runs(
        &self,
        tenant: Option<&str>,
        flow: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Run>> {
        let mut query = format!("?limit={limit}");
        if let Some(t) = tenant {
            query.push_str(&format!("&tenant={t}"));
        }
        if let Some(f) = flow {
            query.push_str(&format!("&flow={f}"));
        }
        self.call(Method::GET, &format!("/runs{query}"), None).await
    }

    pub async fn retries(&self, tenant: &str, flow: &str) -> Result<Vec<Retry>> {
        self.call(
            Method::GET,
            &format!("/tenants/{tenant}/flows/{flow}/retries"),
            None,
        )
        .await
    }

    pub async fn reconcile(
        &self,
        tenant: &str,
        flow: &str,
        scope: crate::reconcile::Scope,
    ) -> Result<Reconciliation> {
        let whole = scope == crate::reconcile::Scope::Whole;
        self.call(
            Method::POST,
            &format!("/tenants/{tenant}/flows/{flow}/reconcile?whole={whole}"),
            None,
        )
        .await
    }

    pub async fn dead_letters(
        &self,
        tenant: Option<&str>,
        flow: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeadLetter>> {
        let mut query = vec![format!("after={after}"), format!("limit={limit}")];
        if let Some(t) = tenant {
            query.push(format!("tenant={t}"));
        }
        if let Some(f) = flow {
            query.push(format!("flow={f}"));
        }
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        self.call(Method::GET, &format!("/dead-letters{query}"), None)
            .await
    }

    pub async fn dead_letter(&self, id: u64) -> Result<DeadLetter> {
        self.call(Method::GET, &format!("/dead-letters/{id}"), None)
            .await
    }

    pub async fn replay(&self, id: u64, options: &crate::dlq::ReplayOptions) -> Result<Replayed> {
        let body = serde_json::json!(options);
        self.call(
            Method::POST,
            &format!("/dead-letters/{id}/replay"),
            Some(body),
        )
        .await
    }

    pub async fn discard(&self, id: u64, reason: Option<&str>) -> Result<AuditEntry> {
        let body = serde_json::json!({ "reason": reason });
        self.call(
            Method::POST,
            &format!("/dead-letters/{id}/discard"),
            Some(body),
        )
        .await
    }

    pub async fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        self.call(Method::GET, "/audit", None).await
    }
}
