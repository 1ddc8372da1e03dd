//! The HTTP/JSON API over [`Server`]: routes, authentication, and errors as
//! `{"error": "…"}` with a status that says what kind of error it is.
//!
//! Every call but `GET /openapi.json` needs `Authorization: Bearer <token>`:
//! the admin token for `/v1/tenants`, a tenant's token for its plugins and
//! pipelines. A wrong token answers 401; another tenant's names answer 404.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;

use super::tenants::{Caller, Quotas};
use super::{ApiError, Server, metrics};
use crate::plugin::PluginKind;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The largest request body: a plugin component or a batch of records.
const MAX_BODY: usize = 64 << 20;

type Shared = State<Arc<Server>>;

/// The API's routes.
pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(prometheus))
        .route("/v1/tenants", post(create_tenant).get(list_tenants))
        .route("/v1/tenants/{tenant}", get(get_tenant))
        .route("/v1/plugins", get(list_plugins))
        .route("/v1/plugins/{plugin}", put(push_plugin).get(get_plugin))
        .route("/v1/pipelines", post(deploy).get(list_pipelines))
        .route(
            "/v1/pipelines/{pipeline}",
            get(pipeline_status).delete(delete_pipeline),
        )
        .route("/v1/pipelines/{pipeline}/records", post(ingest))
        .route(
            "/v1/pipelines/{pipeline}/swap",
            post(|server, headers, name, body| swap_step(server, headers, name, body, false)),
        )
        .route(
            "/v1/pipelines/{pipeline}/rollback",
            post(|server, headers, name, body| swap_step(server, headers, name, body, true)),
        )
        .route("/v1/pipelines/{pipeline}/stop", post(stop))
        .route("/v1/pipelines/{pipeline}/start", post(start))
        .route("/v1/pipelines/{pipeline}/output", get(output))
        .route("/v1/pipelines/{pipeline}/dead-letters", get(dead_letters))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(server)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(json!({"error": self.message}))).into_response()
    }
}

type Reply = Result<Response, ApiError>;

fn ok(status: StatusCode, body: impl serde::Serialize) -> Reply {
    Ok((status, axum::Json(body)).into_response())
}

/// Runs `work` (which may compile plugins, write files or wait for a pipeline)
/// off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
}

fn caller(server: &Server, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    server
        .caller(token.trim())
        .ok_or_else(ApiError::unauthorized)
}

fn admin(server: &Server, headers: &HeaderMap) -> Result<(), ApiError> {
    match caller(server, headers)? {
        Caller::Admin => Ok(()),
        Caller::Tenant(_) => Err(ApiError::forbidden("only the admin token manages tenants")),
    }
}

fn tenant(server: &Server, headers: &HeaderMap) -> Result<String, ApiError> {
    match caller(server, headers)? {
        Caller::Tenant(name) => Ok(name),
        Caller::Admin => Err(ApiError::forbidden(
            "plugins and pipelines belong to tenants: use a tenant's token",
        )),
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|err| ApiError::invalid(format!("bad request body: {err}")))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn prometheus(State(server): Shared, headers: HeaderMap) -> Reply {
    let scope = match caller(&server, &headers)? {
        Caller::Admin => None,
        Caller::Tenant(name) => Some(name),
    };
    let text = metrics::render(&server, scope.as_deref());
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    #[serde(default)]
    quotas: Quotas,
}

async fn create_tenant(State(server): Shared, headers: HeaderMap, body: Bytes) -> Reply {
    admin(&server, &headers)?;
    let request: NewTenant = json_body(&body)?;
    let (tenant, token) =
        blocking(move || server.create_tenant(&request.name, request.quotas)).await?;
    ok(
        StatusCode::CREATED,
        json!({"tenant": tenant, "token": token}),
    )
}

async fn list_tenants(State(server): Shared, headers: HeaderMap) -> Reply {
    admin(&server, &headers)?;
    ok(StatusCode::OK, server.tenants())
}

async fn get_tenant(State(server): Shared, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    admin(&server, &headers)?;
    ok(StatusCode::OK, server.tenant(&name)?)
}

async fn list_plugins(State(server): Shared, headers: HeaderMap) -> Reply {
    let tenant = tenant(&server, &headers)?;
    ok(StatusCode::OK, server.plugins(&tenant))
}

async fn get_plugin(State(server): Shared, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    let tenant = tenant(&server, &headers)?;
    ok(StatusCode::OK, server.plugin(&tenant, &name)?)
}

async fn push_plugin(
    State(server): Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(&server, &headers)?;
    let kind = query
        .get("kind")
        .and_then(|kind| PluginKind::from_name(kind))
        .ok_or_else(|| {
            ApiError::invalid("say what the plugin is: ?kind=dofn|combine|window|trigger")
        })?;
    let (plugin, version) =
        blocking(move || server.push_plugin(&tenant, &name, kind, &body)).await?;
    ok(
        StatusCode::CREATED,
        json!({"name": plugin.name, "kind": plugin.kind, "version": version}),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPipeline {
    name: String,
    spec: String,
}

async fn deploy(State(server): Shared, headers: HeaderMap, body: Bytes) -> Reply {
    let tenant = tenant(&server, &headers)?;
    let request: NewPipeline = json_body(&body)?;
    let status = blocking(move || server.deploy(&tenant, &request.name, &request.spec)).await?;
    ok(StatusCode::CREATED, status)
}

async fn list_pipelines(State(server): Shared, headers: HeaderMap) -> Reply {
    let tenant = tenant(&server, &headers)?;
    let statuses: Vec<_> = server
        .deployments(&tenant)
        .iter()
        .map(|deployment| deployment.status())
        .collect();
    ok(StatusCode::OK, statuses)
}

async fn pipeline_status(
    State(server): Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Reply {
    let tenant = tenant(&server, &headers)?;
    ok(StatusCode::OK, server.deployment(&tenant, &name)?.status())
}

async fn delete_pipeline(
    State(server): Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Reply {
    let tenant = tenant(&server, &headers)?;
    blocking(move || server.delete(&tenant, &name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn ingest(
    State(server): Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(&server, &headers)?;
    let deployment = server.deployment(&tenant, &name)?;
    let accepted = blocking(move || deployment.ingest(&body)).await?;
    ok(StatusCode::OK, json!({"accepted": accepted}))
}

/// `{step, plugin}` for a swap; `{step}` for a rollback.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapRequest {
    step: String,
    plugin: Option<String>,
}

/// `swap` and (with `rollback`) `rollback`.
async fn swap_step(
    State(server): Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
    rollback: bool,
) -> Reply {
    let tenant = tenant(&server, &headers)?;
    let request: SwapRequest = json_body(&body)?;
    match (&request.plugin, rollback) {
        (None, false) => return Err(ApiError::invalid("name the version to swap in: plugin")),
        (Some(_), true) => {
            return Err(ApiError::invalid(
                "a rollback goes back one version: give only step",
            ));
        }
        _ => {}
    }
    let record =
        blocking(move || server.swap(&tenant, &name, &request.step, request.plugin.as_deref()))
            .await?;
    ok(StatusCode::OK, record)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StopRequest {
    #[serde(default)]
    drain: bool,
}

async fn stop(
    State(server): Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(&server, &headers)?;
    let request: StopRequest = if body.is_empty() {
        StopRequest::default()
    } else {
        json_body(&body)?
    };
    let deployment = server.deployment(&tenant, &name)?;
    let status = blocking(move || {
        deployment.stop(request.drain)?;
        Ok(deployment.status())
    })
    .await?;
    ok(StatusCode::OK, status)
}

async fn start(State(server): Shared, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    let tenant = tenant(&server, &headers)?;
    let status = blocking(move || server.start(&tenant, &name)).await?;
    ok(StatusCode::OK, status)
}

async fn output(State(server): Shared, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    committed(server, headers, name, false).await
}

async fn dead_letters(
    State(server): Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Reply {
    committed(server, headers, name, true).await
}

/// A pipeline's published output: what its checkpoints committed.
async fn committed(server: Arc<Server>, headers: HeaderMap, name: String, dead: bool) -> Reply {
    let tenant = tenant(&server, &headers)?;
    let deployment = server.deployment(&tenant, &name)?;
    let bytes = blocking(move || deployment.output(dead)).await?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], bytes).into_response())
}
