//! The admin API's handlers under `/api/v1/`: plugins and their versions
//! (rollback), tenants, enablements, flows, runs, retries, dead letters,
//! reconciliation and the audit log, each a thin JSON layer over a
//! [`crate::Tenon`] operation. Every change is recorded in the audit log under
//! the calling token's name. Owns request and answer bodies and what each role
//! may reach ([`Principal`]); authentication is [`super::auth`]'s, the route
//! list's composition [`super::http`]'s.
//!
//! Secret values are accepted (enable) but never answered: enablements are
//! shown as [`EnablementView`]s, with secret names only.

use crate::flow::{Endpoint, Flow, Schedule};
use crate::limits::LimitOverrides;
use crate::plugin::Installed;
use crate::server::auth::Principal;
use crate::server::http::{App, Refused, Routes, error};
use crate::tenant::{Enablement, EnablementView};
use crate::{Error, Tenon};
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, Query, State};
use axum::handler::Handler as _;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest component an upload may carry: 64 MiB.
pub const MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;

/// A handler's answer: the success, or an error answer.
type Answer = Result<Response, Refused>;

/// The admin API's routes (authentication is added by [`super::http`]).
pub fn routes() -> Routes {
    Routes::default()
        .at("GET", "/api/v1/plugins", list_plugins)
        .at(
            "POST",
            "/api/v1/plugins",
            upload_plugin.layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES)),
        )
        .at("GET", "/api/v1/publishers", list_publishers)
        .at("POST", "/api/v1/publishers", trust)
        .at("DELETE", "/api/v1/publishers/{name}", distrust)
        .at("GET", "/api/v1/plugins/{plugin}", inspect_plugin)
        .at("DELETE", "/api/v1/plugins/{plugin}", remove_plugin)
        .at("GET", "/api/v1/plugins/{plugin}/versions", plugin_versions)
        .at("POST", "/api/v1/plugins/{plugin}/rollback", rollback)
        .at("GET", "/api/v1/tenants", list_tenants)
        .at("POST", "/api/v1/tenants", create_tenant)
        .at("GET", "/api/v1/tenants/{tenant}", show_tenant)
        .at("GET", "/api/v1/tenants/{tenant}/policy", show_policy)
        .at("PUT", "/api/v1/tenants/{tenant}/policy", set_policy)
        .at("GET", "/api/v1/tenants/{tenant}/plugins", list_enablements)
        .at("PUT", "/api/v1/tenants/{tenant}/plugins/{plugin}", enable)
        .at(
            "DELETE",
            "/api/v1/tenants/{tenant}/plugins/{plugin}",
            disable,
        )
        .at("GET", "/api/v1/flows", list_all_flows)
        .at("GET", "/api/v1/tenants/{tenant}/flows", list_flows)
        .at("GET", "/api/v1/tenants/{tenant}/flows/{flow}", show_flow)
        .at("PUT", "/api/v1/tenants/{tenant}/flows/{flow}", define_flow)
        .at(
            "DELETE",
            "/api/v1/tenants/{tenant}/flows/{flow}",
            remove_flow,
        )
        .at(
            "GET",
            "/api/v1/tenants/{tenant}/flows/{flow}/cursor",
            show_cursor,
        )
        .at(
            "PUT",
            "/api/v1/tenants/{tenant}/flows/{flow}/cursor",
            set_cursor,
        )
        .at(
            "GET",
            "/api/v1/tenants/{tenant}/flows/{flow}/retries",
            retries,
        )
        .at(
            "POST",
            "/api/v1/tenants/{tenant}/flows/{flow}/reconcile",
            reconcile,
        )
        .at("GET", "/api/v1/runs", list_runs)
        .at("GET", "/api/v1/dead-letters", list_dead_letters)
        .at("GET", "/api/v1/dead-letters/{id}", show_dead_letter)
        .at("POST", "/api/v1/dead-letters/{id}/replay", replay)
        .at("POST", "/api/v1/dead-letters/{id}/discard", discard)
        .at("GET", "/api/v1/audit", audit_log)
        .at("GET", "/api/v1/state/backup", backup)
}

/// A backup of the data folder (`tenon state backup`'s file, JSON lines),
/// the state of one instant: writes wait while it is read. Operator only,
/// audited: it holds the keys of every secret.
async fn backup(State(app): State<App>, Extension(who): Extension<Principal>) -> Answer {
    who.operator("back up the state")?;
    let tenon = tenon(&app).clone();
    let (bytes, summary) = tokio::task::spawn_blocking(move || tenon.backup_bytes_for(&who.name))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("the backup task failed: {e}")))??;
    tracing::warn!(
        entries = summary.entries,
        components = summary.components,
        "State backup handed out through the admin API; it holds the keys of the secrets"
    );
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/x-ndjson"),
        )],
        bytes,
    )
        .into_response())
}

fn ok<T: Serialize>(value: T) -> Answer {
    Ok(Json(value).into_response())
}

fn created<T: Serialize>(value: T) -> Answer {
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

/// A JSON request body, refused with 400 and the reason when it does not parse.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Refused> {
    let bytes = if bytes.is_empty() { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the request body is not usable JSON: {e}"),
        )
        .into()
    })
}

fn tenon(app: &App) -> &Tenon {
    app.scheduler.tenon()
}

// Plugins.

async fn list_plugins(State(app): State<App>) -> Answer {
    ok(tenon(&app).plugins()?)
}

/// The query of `POST /plugins`: the plugin's limits, and what the install
/// may allow.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallQuery {
    pub fuel: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub http_timeout_ms: Option<u64>,
    pub max_response_bytes: Option<u64>,
    pub max_requests: Option<u32>,
    /// Install a component no key signed.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Install a version older than the current one.
    #[serde(default)]
    pub allow_downgrade: bool,
}

/// The body is the component's bytes, the query its limits (`?fuel=...`) and
/// `allow_unsigned`, `allow_downgrade`; answers the installed plugin (201).
async fn upload_plugin(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Query(query): Query<InstallQuery>,
    wasm: Bytes,
) -> Answer {
    who.operator("install plugins")?;
    let options = crate::publishers::InstallOptions {
        limits: LimitOverrides {
            fuel: query.fuel,
            timeout_ms: query.timeout_ms,
            memory_mib: query.memory_mib,
            http_timeout_ms: query.http_timeout_ms,
            max_response_bytes: query.max_response_bytes,
            max_requests: query.max_requests,
        },
        allow_unsigned: query.allow_unsigned,
        allow_downgrade: query.allow_downgrade,
    };
    created(tenon(&app).install_with(&wasm, options, &who.name).await?)
}

/// The body of `POST /publishers`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustBody {
    pub name: String,
    /// `tenon-ed25519:<base64>`.
    pub key: String,
}

/// Trusted publishers and whose each plugin name is. Operator only.
async fn list_publishers(State(app): State<App>, Extension(who): Extension<Principal>) -> Answer {
    who.operator("list publishers")?;
    let tenon = tenon(&app);
    ok(serde_json::json!({
        "publishers": tenon.publishers()?,
        "names": tenon.name_owners()?,
    }))
}

async fn trust(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    request: Bytes,
) -> Answer {
    who.operator("trust publishers")?;
    let asked: TrustBody = body(&request)?;
    created(tenon(&app).trust(&asked.name, &asked.key, &who.name)?)
}

async fn distrust(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Answer {
    who.operator("remove publishers")?;
    ok(tenon(&app).distrust(&name, &who.name)?)
}

async fn inspect_plugin(State(app): State<App>, Path(plugin): Path<String>) -> Answer {
    ok(tenon(&app).plugin(&plugin)?)
}

async fn remove_plugin(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(plugin): Path<String>,
) -> Answer {
    who.operator("remove plugins")?;
    tenon(&app).remove_plugin(&plugin, &who.name)?;
    ok(serde_json::json!({ "removed": plugin }))
}

/// One installed version of a plugin, and whether it is the current one (the
/// version flows run unless they pin another).
#[derive(Debug, Serialize, Deserialize)]
pub struct VersionRow {
    #[serde(flatten)]
    pub installed: Installed,
    pub current: bool,
}

/// Every installed version of a plugin, oldest installation first.
pub fn version_rows(tenon: &Tenon, plugin: &str) -> Result<Vec<VersionRow>, Error> {
    let versions = tenon.plugin_versions(plugin)?;
    let current = tenon.plugin(plugin).ok();
    Ok(versions
        .into_iter()
        .map(|installed| VersionRow {
            current: current
                .as_ref()
                .is_some_and(|c| c.version == installed.version),
            installed,
        })
        .collect())
}

/// Every installed version, the current one marked; any token may read them,
/// as it may the catalogue.
async fn plugin_versions(State(app): State<App>, Path(plugin): Path<String>) -> Answer {
    ok(version_rows(tenon(&app), &plugin)?)
}

/// Makes the version installed before the current one current again (flows that
/// pin a version keep it); answers the now current version. Operator only.
async fn rollback(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(plugin): Path<String>,
) -> Answer {
    who.operator("roll plugins back")?;
    ok(tenon(&app).rollback(&plugin, &who.name)?)
}

// Tenants and enablements.

/// A tenant with the plugins it has enabled.
#[derive(Debug, Serialize, Deserialize)]
pub struct TenantRow {
    pub id: String,
    pub created_at: u64,
    pub enabled: Vec<String>,
}

async fn list_tenants(State(app): State<App>, Extension(who): Extension<Principal>) -> Answer {
    let tenon = tenon(&app);
    let scope = who.scope(None)?;
    let enablements = tenon.enablements(scope.as_deref())?;
    let rows: Vec<TenantRow> = tenon
        .tenants()?
        .into_iter()
        .filter(|t| scope.as_deref().is_none_or(|s| s == t.id))
        .map(|t| TenantRow {
            enabled: enablements
                .iter()
                .filter(|e| e.tenant == t.id)
                .map(|e| e.plugin.clone())
                .collect(),
            id: t.id,
            created_at: t.created_at,
        })
        .collect();
    ok(rows)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    id: String,
}

async fn create_tenant(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    request: Bytes,
) -> Answer {
    who.operator("create tenants")?;
    let new: NewTenant = body(&request)?;
    created(tenon(&app).create_tenant(&new.id, &who.name)?)
}

async fn show_tenant(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(tenant): Path<String>,
) -> Answer {
    who.reach(&tenant)?;
    let tenon = tenon(&app);
    let t = tenon.tenant(&tenant)?;
    let enabled: Vec<EnablementView> = tenon
        .enablements(Some(&tenant))?
        .iter()
        .map(Enablement::view)
        .collect();
    ok(serde_json::json!({ "id": t.id, "created_at": t.created_at, "enabled": enabled }))
}

async fn list_enablements(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(tenant): Path<String>,
) -> Answer {
    who.reach(&tenant)?;
    let tenon = tenon(&app);
    tenon.tenant(&tenant)?;
    let views: Vec<EnablementView> = tenon
        .enablements(Some(&tenant))?
        .iter()
        .map(Enablement::view)
        .collect();
    ok(views)
}

/// A tenant with the operator's policy for it; a tenant token may read its own.
async fn show_policy(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(tenant): Path<String>,
) -> Answer {
    who.reach(&tenant)?;
    ok(tenon(&app).tenant(&tenant)?)
}

/// Replaces what the operator allows a tenant. Operator only.
async fn set_policy(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(tenant): Path<String>,
    request: Bytes,
) -> Answer {
    who.reach(&tenant)?;
    who.operator("set a tenant's policy")?;
    let policy: crate::tenant::Policy = body(&request)?;
    ok(tenon(&app).set_policy(&tenant, policy, &who.name)?)
}

/// The body of `PUT /tenants/{tenant}/plugins/{plugin}`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnableBody {
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Secret name -> `{"value": "...", "hosts": ["api.example.com"],
    /// "allow_http": false}`.
    #[serde(default)]
    pub secrets: BTreeMap<String, crate::capability::secret::Secret>,
    /// `host` or `host:port`.
    #[serde(default)]
    pub grants: Vec<String>,
    #[serde(default)]
    pub limits: LimitOverrides,
}

async fn enable(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((tenant, plugin)): Path<(String, String)>,
    request: Bytes,
) -> Answer {
    who.reach(&tenant)?;
    let settings: EnableBody = body(&request)?;
    let grants = settings
        .grants
        .iter()
        .map(|g| g.parse())
        .collect::<Result<Vec<_>, String>>()
        .map_err(Error::Invalid)?;
    let enablement = Enablement {
        config: settings.config,
        secrets: settings.secrets,
        grants,
        limits: settings.limits,
        ..Enablement::new(&tenant, &plugin)
    };
    let enablement = match &who.tenant {
        None => tenon(&app).enable(enablement, &who.name)?,
        Some(_) => tenon(&app).enable_as_tenant(enablement, &who.name)?,
    };
    ok(enablement.view())
}

async fn disable(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((tenant, plugin)): Path<(String, String)>,
) -> Answer {
    who.reach(&tenant)?;
    tenon(&app).disable(&tenant, &plugin, &who.name)?;
    ok(serde_json::json!({ "tenant": tenant, "plugin": plugin, "enabled": false }))
}

// Flows.

/// A flow with its stored cursor.
#[derive(Debug, Serialize, Deserialize)]
pub struct FlowRow {
    #[serde(flatten)]
    pub flow: Flow,
    pub cursor: Option<String>,
}

fn flow_rows(tenon: &Tenon, tenant: Option<&str>) -> Result<Vec<FlowRow>, Refused> {
    let mut rows = Vec::new();
    for flow in tenon.flows(tenant)? {
        let cursor = tenon.cursor(&flow.tenant, &flow.name)?;
        rows.push(FlowRow { flow, cursor });
    }
    Ok(rows)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn list_all_flows(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Query(query): Query<TenantQuery>,
) -> Answer {
    let scope = who.scope(query.tenant)?;
    ok(flow_rows(tenon(&app), scope.as_deref())?)
}

async fn list_flows(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(tenant): Path<String>,
) -> Answer {
    who.reach(&tenant)?;
    tenon(&app).tenant(&tenant)?;
    ok(flow_rows(tenon(&app), Some(&tenant))?)
}

async fn show_flow(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((tenant, flow)): Path<(String, String)>,
) -> Answer {
    who.reach(&tenant)?;
    let tenon = tenon(&app);
    let flow = tenon.flow(&tenant, &flow)?;
    let cursor = tenon.cursor(&tenant, &flow.name)?;
    ok(FlowRow { flow, cursor })
}

/// The body of `PUT /tenants/{tenant}/flows/{flow}`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowBody {
    /// `plugin:stream`.
    pub source: String,
    /// Transform plugins, applied in order.
    #[serde(default)]
    pub transforms: Vec<String>,
    /// `plugin:stream`.
    pub destination: String,
    #[serde(default)]
    pub batch_size: Option<u32>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub retry_base_ms: Option<u64>,
    /// How long one run may take, in milliseconds.
    #[serde(default)]
    pub max_run_ms: Option<u64>,
    /// Run every so often: `30s`, `5m`.
    #[serde(default)]
    pub every: Option<String>,
    /// Run at a cron expression's times, in UTC.
    #[serde(default)]
    pub cron: Option<String>,
    /// Plugin -> the installed version this flow runs it at; others follow
    /// their current version.
    #[serde(default)]
    pub pins: BTreeMap<String, String>,
}

async fn define_flow(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((tenant, name)): Path<(String, String)>,
    request: Bytes,
) -> Answer {
    who.reach(&tenant)?;
    let spec: FlowBody = body(&request)?;
    let invalid = |e: String| Refused::from(Error::Invalid(e));
    let source: Endpoint = spec.source.parse().map_err(invalid)?;
    let destination: Endpoint = spec.destination.parse().map_err(invalid)?;
    let schedule = match (spec.every, spec.cron) {
        (Some(_), Some(_)) => return Err(invalid("give `every` or `cron`, not both".into())),
        (Some(every), None) => Some(Schedule::Every(every.parse().map_err(invalid)?)),
        (None, Some(cron)) => Some(Schedule::Cron(cron.parse().map_err(invalid)?)),
        (None, None) => None,
    };
    let defaults = crate::host::flow(&tenant, &name, source, spec.transforms, destination);
    let flow = Flow {
        batch_size: spec.batch_size.unwrap_or(defaults.batch_size),
        max_attempts: spec.max_attempts.unwrap_or(defaults.max_attempts),
        retry_base_ms: spec.retry_base_ms.unwrap_or(defaults.retry_base_ms),
        max_run_ms: spec.max_run_ms.unwrap_or(defaults.max_run_ms),
        schedule,
        pins: spec.pins,
        ..defaults
    };
    ok(tenon(&app).add_flow(flow, &who.name)?)
}

/// A flow's cursor: what `GET` and `PUT .../cursor` answer (`before` only
/// after a change).
#[derive(Debug, Serialize, Deserialize)]
pub struct CursorView {
    pub tenant: String,
    pub flow: String,
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Option<String>>,
}

/// The body of `PUT .../cursor`: the cursor to continue from, or `null` to
/// read from the start.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorBody {
    pub cursor: Option<String>,
}

async fn show_cursor(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((tenant, flow)): Path<(String, String)>,
) -> Answer {
    who.reach(&tenant)?;
    let cursor = tenon(&app).cursor(&tenant, &flow)?;
    ok(CursorView {
        tenant,
        flow,
        cursor,
        before: None,
    })
}

async fn set_cursor(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((tenant, flow)): Path<(String, String)>,
    request: Bytes,
) -> Answer {
    who.reach(&tenant)?;
    let body: CursorBody = body(&request)?;
    let before = app.scheduler.while_idle(&tenant, &flow, || {
        tenon(&app).set_cursor(&tenant, &flow, body.cursor.as_deref(), &who.name)
    })?;
    ok(CursorView {
        tenant,
        flow,
        cursor: body.cursor,
        before: Some(before),
    })
}

async fn remove_flow(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((tenant, flow)): Path<(String, String)>,
) -> Answer {
    who.reach(&tenant)?;
    ok(app.scheduler.while_idle(&tenant, &flow, || {
        tenon(&app).remove_flow(&tenant, &flow, &who.name)
    })?)
}

async fn retries(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((tenant, flow)): Path<(String, String)>,
) -> Answer {
    who.reach(&tenant)?;
    ok(tenon(&app).retries(&tenant, &flow)?)
}

#[derive(Debug, Default, Deserialize)]
struct ReconcileQuery {
    /// Compare the whole destination, not only the flow's records.
    #[serde(default)]
    whole: bool,
}

async fn reconcile(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((tenant, flow)): Path<(String, String)>,
    Query(query): Query<ReconcileQuery>,
) -> Answer {
    who.reach(&tenant)?;
    let scope = crate::reconcile::Scope::whole_if(query.whole);
    ok(tenon(&app).reconcile_in(&tenant, &flow, scope).await?)
}

// Runs.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    tenant: Option<String>,
    flow: Option<String>,
    #[serde(default = "default_runs_limit")]
    limit: usize,
}

const fn default_runs_limit() -> usize {
    20
}

async fn list_runs(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Query(query): Query<RunsQuery>,
) -> Answer {
    let scope = who.scope(query.tenant)?;
    ok(tenon(&app).runs(scope.as_deref(), query.flow.as_deref(), query.limit)?)
}

// Dead letters.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadLetterQuery {
    tenant: Option<String>,
    flow: Option<String>,
    /// Only letters with ids after this one (the last id of the page before).
    #[serde(default)]
    after: u64,
    #[serde(default = "default_dlq_limit")]
    limit: usize,
}

const fn default_dlq_limit() -> usize {
    crate::limits::DEFAULT_DLQ_PAGE
}

async fn list_dead_letters(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Query(query): Query<DeadLetterQuery>,
) -> Answer {
    let scope = who.scope(query.tenant)?;
    ok(tenon(&app).dead_letters_page(
        scope.as_deref(),
        query.flow.as_deref(),
        query.after,
        query.limit,
    )?)
}

/// The dead letter, if the caller may reach its tenant; otherwise the 404 an
/// unknown id gets.
fn dead_letter(
    app: &App,
    who: &Principal,
    id: u64,
) -> Result<crate::delivery::DeadLetter, Refused> {
    let letter = tenon(app).dead_letter(id)?;
    if who.reach(&letter.tenant).is_err() {
        return Err(Error::not_found("dead letter", id.to_string()).into());
    }
    Ok(letter)
}

async fn show_dead_letter(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<u64>,
) -> Answer {
    ok(dead_letter(&app, &who, id)?)
}

async fn replay(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<u64>,
    request: Bytes,
) -> Answer {
    dead_letter(&app, &who, id)?;
    let asked: crate::dlq::ReplayOptions = body(&request)?;
    ok(tenon(&app).replay_with(id, &asked, &who.name).await?)
}

/// The body of `POST /dead-letters/{id}/discard`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscardBody {
    #[serde(default)]
    pub reason: Option<String>,
}

async fn discard(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<u64>,
    request: Bytes,
) -> Answer {
    dead_letter(&app, &who, id)?;
    let asked: DiscardBody = body(&request)?;
    ok(tenon(&app).discard(id, &who.name, asked.reason.as_deref())?)
}

// Audit.

/// The audit log, oldest first; a tenant token sees its own tenant's entries.
async fn audit_log(State(app): State<App>, Extension(who): Extension<Principal>) -> Answer {
    let mut log = tenon(&app).audit_log()?;
    if let Some(own) = &who.tenant {
        let prefix = format!("{own}/");
        let created = format!("tenant/{own}");
        log.retain(|e| e.subject.starts_with(&prefix) || e.subject == created);
    }
    ok(log)
}
