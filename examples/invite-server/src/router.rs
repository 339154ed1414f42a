//! The axum [`Router`] and its OpenAPI document, built from the same
//! handlers: each handler's `#[utoipa::path]` both routes it and describes
//! it, so the document cannot drift from what the server does.

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{
    admins, events, held, invitations, keys, lists, ops, organizers, pending, reports,
    suppressions, webhooks,
};
use crate::landing::api as landing_api;
use crate::problem::{ApiError, FieldError, PROBLEM_JSON, Problem};
use crate::state::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "calinvite invite server",
        description = "Send native calendar invitations and collect the answers.\n\n\
Every `/v1` operation needs an API key (`Authorization: Bearer cik_…`). An \
organizer's key sees that organizer's events; a domain owner's key sees all of its \
organizers'. Whatever belongs to another tenant is answered 404. Errors are RFC 9457 \
problem details (`application/problem+json`). Lists are paged with `limit` and \
`cursor` (the `next_cursor` of the page before).",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&Security),
    tags(
        (name = "organizers", description = "The domain owner and its organizers"),
        (name = "events", description = "Events, from organizers' calendars or made here"),
        (name = "invitations", description = "Sending invitations and reading answers"),
        (name = "lists", description = "Sending an event to a CSV list"),
        (name = "pending changes", description = "Updates and cancellations held for approval"),
        (name = "reports", description = "Reports per event, organizer and domain owner"),
        (name = "suppressions", description = "The suppression list and the refusal log"),
        (name = "keys", description = "API keys"),
        (name = "held invitations", description = "Invitations from addresses that are not registered organizers yet, held until they register"),
        (name = "webhooks", description = "Webhook endpoints: answers, deliveries, event changes, held changes and list progress, posted and signed (Standard Webhooks)"),
        (name = "landing pages", description = "Public pages of an organizer's upcoming events, where visitors ask for invitations; events' display extras"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cik_…")
                    .description(Some("An API key of this server"))
                    .build(),
            ),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "api_key",
            Vec::<String>::new(),
        )]);
    }
}

/// The routes, with their documentation.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(organizers::get_owner, organizers::patch_owner))
        .routes(routes!(admins::list_admins, admins::add_admin))
        .routes(routes!(admins::remove_admin))
        .routes(routes!(
            organizers::list_organizers,
            organizers::create_organizer
        ))
        .routes(routes!(
            organizers::get_organizer,
            organizers::patch_organizer
        ))
        .routes(routes!(events::list_events, events::create_event))
        .routes(routes!(events::get_event, events::patch_event))
        .routes(routes!(events::cancel_event))
        .routes(routes!(crate::public::api::cta_link))
        .routes(routes!(
            crate::public::api::get_cta_settings,
            crate::public::api::patch_cta_settings
        ))
        .routes(routes!(invitations::list_invitations, invitations::invite))
        .routes(routes!(invitations::get_invitation))
        .routes(routes!(lists::upload, lists::event_lists))
        .routes(routes!(lists::get_list))
        .routes(routes!(lists::list_rows))
        .routes(routes!(lists::pause))
        .routes(routes!(lists::resume))
        .routes(routes!(lists::cancel))
        .routes(routes!(pending::list_pending))
        .routes(routes!(pending::event_pending))
        .routes(routes!(pending::get_pending))
        .routes(routes!(pending::approve))
        .routes(routes!(pending::reject))
        .routes(routes!(reports::event_report))
        .routes(routes!(reports::organizer_report))
        .routes(routes!(reports::owner_report))
        .routes(routes!(reports::mail_report))
        .routes(routes!(
            suppressions::list_suppressions,
            suppressions::add_suppression
        ))
        .routes(routes!(suppressions::get_suppression))
        .routes(routes!(suppressions::list_refusals))
        .routes(routes!(held::list_held))
        .routes(routes!(held::get_held, held::discard_held))
        .routes(routes!(held::start_registration))
        .routes(routes!(held::get_registration, held::patch_registration))
        .routes(routes!(keys::list_keys, keys::create_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::patch_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(landing_api::list_pages, landing_api::create_page))
        .routes(routes!(
            landing_api::get_page,
            landing_api::patch_page,
            landing_api::delete_page
        ))
        .routes(routes!(landing_api::get_display, landing_api::put_display))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::problem_type))
}

/// Adds the problems any operation may answer with, so that each is
/// documented where it can happen: a bad request, a missing key and
/// another tenant's resource on every `/v1` operation; a body too large or
/// of the wrong type where there is a body; a failing database anywhere.
fn common_responses(openapi: &mut OpenApi) {
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        let api = path.starts_with("/v1/");
        for op in [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            let has_body = op.request_body.is_some();
            let mut add = |code: &str, description: &str| {
                op.responses
                    .responses
                    .entry(code.to_owned())
                    .or_insert_with(|| problem(description).into());
            };
            if api {
                add(
                    "400",
                    "The request is not valid: `errors` names each bad field",
                );
                add("401", "No API key, or an unknown or revoked one");
                add("404", "No such resource for this key");
            }
            if has_body {
                add("413", "The body is too large");
                add("415", "The body is not of the type this operation takes");
            }
            add("500", "The server failed");
            add(
                "503",
                "The database did not answer, or the request took too long",
            );
        }
    }
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi() -> OpenApi {
    let (_, mut api) = routes().split_for_parts();
    common_responses(&mut api);
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api
}

/// The server's router: the API under `/v1`, `/openapi.json`, `/healthz`,
/// `/readyz`, `/metrics` and `/problems/{slug}`. An application mounts it
/// in its own axum app (`Router::merge` or `Router::nest`) with the state
/// of its pipeline.
pub fn router(state: AppState) -> Router {
    let (router, mut api) = routes().split_for_parts();
    common_responses(&mut api);
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let document = Arc::new(serde_json::to_vec(&api).unwrap_or_default());
    router
        .merge(crate::unregistered::pages::routes())
        .merge(crate::web::routes(state.web().config().enabled))
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move {
                    let mut r = (*document).clone().into_response();
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    r
                }
            }),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .fallback(|| async { ApiError::not_found("resource at this path") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                ApiError::internal().into_response()
            },
        ))
        .with_state(state)
}

/// Times each request (answering 503 past the limit), counts it by route
/// and status, and logs it: method, route pattern (never the query or an
/// address in the path), status and time.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let limit = state.limits().request_timeout;
    #[allow(
        clippy::disallowed_methods,
        reason = "the server measures real request latency"
    )]
    let started = std::time::Instant::now();
    let response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(r) => r,
        Err(_) => ApiError::unavailable(format!(
            "the request took longer than {} s and was stopped; nothing it did is half done",
            limit.as_secs()
        ))
        .into_response(),
    };
    let took = started.elapsed();
    let status = response.status().as_u16();
    state.http_metrics().observe(&method, &route, status, took);
    let ms = took.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(method, route, status, ms, "request");
    } else if status >= 400 {
        tracing::info!(method, route, status, ms, "request");
    } else {
        tracing::debug!(method, route, status, ms, "request");
    }
    response
}
