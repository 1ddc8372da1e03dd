//! The HTTP/JSON API over [`Server`]: routes, authentication, and errors as
//! `{"error": "…"}` with a status that says what kind of error it is.
//!
//! Every call but `GET /openapi.json` and the dashboard's files ([`super::dashboard`])
//! needs `Authorization: Bearer <token>`:
//! the admin token for `/v1/tenants`, a tenant's token for its plugins and
//! pipelines. A wrong token answers 401 before any of the body is read; another
//! tenant's names answer 404. Every error, axum's own rejections included, is
//! JSON.
//!
//! [`serve`] runs the connections with [`Timeouts`], so that idle and half-sent
//! connections are closed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;

use super::pipelines::ModelMove;
use super::tenants::{Caller, Quotas};
use super::{ApiError, ErrorKind, Server, Timeouts, metrics};
use millrace_wasm::PluginKind;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The largest request body: a plugin component or a batch of records.
const MAX_BODY: usize = 64 << 20;

type Shared = State<Arc<Server>>;

/// The API's routes.
pub fn router(server: Arc<Server>) -> Router {
    let authenticated = Router::new()
        .route("/metrics", get(prometheus))
        .route("/v1/tenants", post(create_tenant).get(list_tenants))
        .route("/v1/tenants/{tenant}", get(get_tenant))
        .route("/v1/plugins", get(list_plugins))
        .route("/v1/plugins/{plugin}", put(push_plugin).get(get_plugin))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{model}", put(push_model))
        .route("/v1/pipelines", post(deploy).get(list_pipelines))
        .route(
            "/v1/pipelines/{pipeline}",
            get(pipeline_status).delete(delete_pipeline),
        )
        .route("/v1/pipelines/{pipeline}/records", post(ingest))
        .route(
            "/v1/pipelines/{pipeline}/swap",
            post(|server, caller, name, body| swap_step(server, caller, name, body, false)),
        )
        .route(
            "/v1/pipelines/{pipeline}/rollback",
            post(|server, caller, name, body| swap_step(server, caller, name, body, true)),
        )
        .route("/v1/pipelines/{pipeline}/models", post(move_model))
        .route("/v1/pipelines/{pipeline}/stop", post(stop))
        .route("/v1/pipelines/{pipeline}/start", post(start))
        .route("/v1/pipelines/{pipeline}/output", get(output))
        .route("/v1/pipelines/{pipeline}/dead-letters", get(dead_letters))
        .route("/v1/pipelines/{pipeline}/history", get(history))
        .route("/v1/pipelines/{pipeline}/graph", get(graph))
        // Around each route's handler, so before any extractor reads the body.
        .route_layer(middleware::from_fn_with_state(server.clone(), authenticate));
    Router::new()
        .route("/openapi.json", get(openapi))
        .merge(super::dashboard::router())
        .merge(authenticated)
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::map_response(errors_as_json))
        .with_state(server)
}

/// The one place an API error becomes an HTTP status.
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Quota => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(status_of(self.kind), self.message)
    }
}

/// An error answer of the HTTP layer itself: `{"error": message}` with `status`.
fn error_response(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

/// Checks the token from the headers alone, and a declared body size, before the
/// handler (and so its body extractor) runs: an unauthenticated caller gets 401
/// without sending the body, and a body over the limit 413 without reading it.
async fn authenticate(State(server): Shared, mut request: Request, next: Next) -> Response {
    let caller = match caller(&server, request.headers()) {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY as u64) {
        return too_large();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

fn too_large() -> Response {
    error_response(StatusCode::PAYLOAD_TOO_LARGE, too_large_message())
}

fn too_large_message() -> String {
    format!(
        "the body is larger than {} MiB: send records in smaller batches",
        MAX_BODY >> 20
    )
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "there is no route {}; the API is described at /openapi.json",
        uri.path()
    ))
}

/// Turns an error answer that is not JSON (axum's rejections: a body too large,
/// bad JSON, a wrong content type, a bad path; 405) into `{"error": …}` like the
/// API's own, keeping its status and headers such as `Allow`.
async fn errors_as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        text => text.to_owned(),
    };
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large_message()
    } else {
        message
    };
    let mut json = error_response(status, message);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name, value.clone());
        }
    }
    json
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

/// The caller [`authenticate`] found.
type Authenticated = Extension<Caller>;

fn admin(Extension(caller): Authenticated) -> Result<(), ApiError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Tenant(_) => Err(ApiError::forbidden("only the admin token manages tenants")),
    }
}

fn tenant(Extension(caller): Authenticated) -> Result<String, ApiError> {
    match caller {
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

async fn prometheus(State(server): Shared, Extension(caller): Authenticated) -> Reply {
    let scope = match caller {
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

async fn create_tenant(State(server): Shared, caller: Authenticated, body: Bytes) -> Reply {
    admin(caller)?;
    let request: NewTenant = json_body(&body)?;
    let (tenant, token) =
        blocking(move || server.create_tenant(&request.name, request.quotas)).await?;
    ok(
        StatusCode::CREATED,
        json!({"tenant": tenant, "token": token}),
    )
}

async fn list_tenants(State(server): Shared, caller: Authenticated) -> Reply {
    admin(caller)?;
    ok(StatusCode::OK, server.tenants())
}

async fn get_tenant(
    State(server): Shared,
    caller: Authenticated,
    Path(name): Path<String>,
) -> Reply {
    admin(caller)?;
    ok(StatusCode::OK, server.tenant(&name)?)
}

async fn list_plugins(State(server): Shared, caller: Authenticated) -> Reply {
    let tenant = tenant(caller)?;
    ok(StatusCode::OK, server.plugins(&tenant))
}

async fn get_plugin(
    State(server): Shared,
    caller: Authenticated,
    Path(name): Path<String>,
) -> Reply {
    let tenant = tenant(caller)?;
    ok(StatusCode::OK, server.plugin(&tenant, &name)?)
}

async fn push_plugin(
    State(server): Shared,
    caller: Authenticated,
    Path(name): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(caller)?;
    let kind = query
        .get("kind")
        .and_then(|kind| PluginKind::from_name(kind))
        .ok_or_else(|| {
            ApiError::invalid("say what the plugin is: ?kind=dofn|combine|window|trigger|scorer")
        })?;
    let (plugin, version) =
        blocking(move || server.push_plugin(&tenant, &name, kind, &body)).await?;
    ok(
        StatusCode::CREATED,
        json!({"name": plugin.name, "kind": plugin.kind, "version": version}),
    )
}

async fn list_models(State(server): Shared, caller: Authenticated) -> Reply {
    let tenant = tenant(caller)?;
    ok(StatusCode::OK, server.model_list(&tenant))
}

async fn push_model(
    State(server): Shared,
    caller: Authenticated,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(caller)?;
    let (model, version) = blocking(move || server.push_model(&tenant, &name, &body)).await?;
    ok(
        StatusCode::CREATED,
        json!({"name": model.name, "format": model.kind, "version": version}),
    )
}

/// A change of a score step's models.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelRequest {
    step: String,
    action: ModelAction,
    model: Option<String>,
    share: Option<f64>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ModelAction {
    Swap,
    Shadow,
    Canary,
    Promote,
    Dismiss,
}

async fn move_model(
    State(server): Shared,
    caller: Authenticated,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(caller)?;
    let request: ModelRequest = json_body(&body)?;
    let model = |what: &str| {
        request
            .model
            .clone()
            .ok_or_else(|| ApiError::invalid(format!("name the model to {what}: model")))
    };
    let takes_share = request.action == ModelAction::Canary;
    if request.share.is_some() != takes_share {
        return Err(ApiError::invalid(if takes_share {
            "a canary takes a share of keys, from 0 to 1: share"
        } else {
            "only a canary takes a share"
        }));
    }
    let change = match request.action {
        ModelAction::Swap => ModelMove::Swap(model("swap in")?),
        ModelAction::Shadow => ModelMove::Shadow(model("shadow")?),
        ModelAction::Canary => ModelMove::Canary(model("canary")?, request.share.unwrap_or(0.0)),
        ModelAction::Promote | ModelAction::Dismiss if request.model.is_some() => {
            return Err(ApiError::invalid(
                "promote and dismiss act on the step's candidate: give no model",
            ));
        }
        ModelAction::Promote => ModelMove::Promote,
        ModelAction::Dismiss => ModelMove::Dismiss,
    };
    let done = blocking(move || server.move_model(&tenant, &name, &request.step, &change)).await?;
    ok(StatusCode::OK, done)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPipeline {
    name: String,
    spec: String,
}

async fn deploy(State(server): Shared, caller: Authenticated, body: Bytes) -> Reply {
    let tenant = tenant(caller)?;
    let request: NewPipeline = json_body(&body)?;
    let status = blocking(move || server.deploy(&tenant, &request.name, &request.spec)).await?;
    ok(StatusCode::CREATED, status)
}

async fn list_pipelines(State(server): Shared, caller: Authenticated) -> Reply {
    let tenant = tenant(caller)?;
    let statuses: Vec<_> = server
        .deployments(&tenant)
        .iter()
        .map(|deployment| deployment.status())
        .collect();
    ok(StatusCode::OK, statuses)
}

async fn pipeline_status(
    State(server): Shared,
    caller: Authenticated,
    Path(name): Path<String>,
) -> Reply {
    let tenant = tenant(caller)?;
    ok(StatusCode::OK, server.deployment(&tenant, &name)?.status())
}

async fn history(State(server): Shared, caller: Authenticated, Path(name): Path<String>) -> Reply {
    let tenant = tenant(caller)?;
    ok(StatusCode::OK, server.deployment(&tenant, &name)?.history())
}

async fn graph(State(server): Shared, caller: Authenticated, Path(name): Path<String>) -> Reply {
    let tenant = tenant(caller)?;
    ok(StatusCode::OK, server.deployment(&tenant, &name)?.graph())
}

async fn delete_pipeline(
    State(server): Shared,
    caller: Authenticated,
    Path(name): Path<String>,
) -> Reply {
    let tenant = tenant(caller)?;
    blocking(move || server.delete(&tenant, &name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn ingest(
    State(server): Shared,
    caller: Authenticated,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(caller)?;
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
    caller: Authenticated,
    Path(name): Path<String>,
    body: Bytes,
    rollback: bool,
) -> Reply {
    let tenant = tenant(caller)?;
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
    caller: Authenticated,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(caller)?;
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

async fn start(State(server): Shared, caller: Authenticated, Path(name): Path<String>) -> Reply {
    let tenant = tenant(caller)?;
    let status = blocking(move || server.start(&tenant, &name)).await?;
    ok(StatusCode::OK, status)
}

async fn output(State(server): Shared, caller: Authenticated, Path(name): Path<String>) -> Reply {
    committed(server, caller, name, false).await
}

async fn dead_letters(
    State(server): Shared,
    caller: Authenticated,
    Path(name): Path<String>,
) -> Reply {
    committed(server, caller, name, true).await
}

/// A pipeline's published output: what its checkpoints committed.
async fn committed(server: Arc<Server>, caller: Authenticated, name: String, dead: bool) -> Reply {
    let tenant = tenant(caller)?;
    let deployment = server.deployment(&tenant, &name)?;
    let bytes = blocking(move || deployment.output(dead)).await?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], bytes).into_response())
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish. Each connection runs under `timeouts`: headers
/// (and the wait for the next request on an idle connection), each part of a
/// body, and the whole request are bounded, so that a client that stops sending
/// loses its connection.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of descriptors, say: wait a little rather than spin.
                    tracing::warn!("cannot accept a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            let body_timeout = timeouts.body;
            let answer = hyper::service::Service::call(
                &service,
                request.map(|body| TimedBody::new(body, body_timeout)),
            );
            async move {
                match tokio::time::timeout(timeouts.request, answer).await {
                    Ok(answer) => answer,
                    Err(_) => Ok(error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "the request took longer than {:?}; what it started may still finish",
                            timeouts.request
                        ),
                    )),
                }
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(timeouts.header)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!("connection closed: {err}");
            }
        });
    }
    graceful.shutdown().await;
}

/// A request body that fails when its next part takes longer than `idle`.
struct TimedBody<B> {
    inner: B,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<B> TimedBody<B> {
    fn new(inner: B, idle: Duration) -> Self {
        TimedBody {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl<B> http_body::Body for TimedBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + this.idle;
                this.deadline.as_mut().reset(next);
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                    "the body stopped arriving for {:?}",
                    this.idle
                )
                .into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
