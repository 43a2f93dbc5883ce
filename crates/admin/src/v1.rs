//! The management REST API under `/admin/v1` and its OpenAPI 3.1 document.
//!
//! Routes are registered through `utoipa_axum::routes!`, which takes each handler's method and
//! path from its `#[utoipa::path]` attribute: the router and the document are built from the
//! same declarations and cannot drift apart.

mod apps;
mod audit;
mod credentials;
mod developers;
mod environments;
mod identity;
mod kvm;
mod ops;
mod products;
pub(crate) mod requests;
mod users;
pub(crate) mod views;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use portcullis_store::Store;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Control;
use crate::error::{FieldError, Problem};

/// How long a login session lasts.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(8 * 60 * 60);

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) control: Arc<dyn Control>,
    pub(crate) session_ttl: Duration,
    pub(crate) openapi_json: Arc<str>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis admin API",
        description = "Management plane of the Portcullis gateway: environments, developers, apps, \
                       credentials, API products, encrypted key-value maps, the audit log and admin \
                       identities. Every request but `POST /admin/v1/login` needs \
                       `Authorization: Bearer <token>`. Errors are `application/problem+json`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Login, sessions, TOTP, the caller's own tokens"),
        (name = "environments"), (name = "developers"), (name = "apps"),
        (name = "credentials"), (name = "products"), (name = "kvm"), (name = "audit"),
        (name = "apply", description = "The catalog as one declarative document (docs/declarative.md)"),
        (name = "admin-users", description = "Admin users and their tokens (admin role)"),
        (name = "operations", description = "Reload, status, this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A login session (`POST /admin/v1/login`) or an API token; both `pat_…`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The routes and the document, built together.
fn parts() -> (Router<ApiState>, openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(identity::login))
        .routes(routes!(identity::logout))
        .routes(routes!(identity::me))
        .routes(routes!(identity::begin_totp))
        .routes(routes!(identity::confirm_totp))
        .routes(routes!(identity::list_my_tokens, identity::create_my_token))
        .routes(routes!(identity::revoke_my_token))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::set_password))
        .routes(routes!(users::list_user_tokens, users::create_user_token))
        .routes(routes!(users::list_tokens))
        .routes(routes!(users::revoke_token))
        .routes(routes!(
            environments::list_environments,
            environments::create_environment
        ))
        .routes(routes!(
            environments::get_environment,
            environments::update_environment,
            environments::delete_environment
        ))
        .routes(routes!(
            developers::list_developers,
            developers::create_developer
        ))
        .routes(routes!(
            developers::get_developer,
            developers::update_developer,
            developers::delete_developer
        ))
        .routes(routes!(developers::set_developer_status))
        .routes(routes!(apps::list_developer_apps, apps::create_app))
        .routes(routes!(apps::list_apps))
        .routes(routes!(apps::get_app, apps::update_app, apps::delete_app))
        .routes(routes!(apps::set_app_status))
        .routes(routes!(
            credentials::list_credentials,
            credentials::create_credential
        ))
        .routes(routes!(credentials::get_credential))
        .routes(routes!(credentials::rotate_credential))
        .routes(routes!(credentials::revoke_credential))
        .routes(routes!(credentials::add_product))
        .routes(routes!(credentials::remove_product))
        .routes(routes!(credentials::set_product_status))
        .routes(routes!(products::list_products, products::create_product))
        .routes(routes!(
            products::get_product,
            products::replace_product,
            products::delete_product
        ))
        .routes(routes!(kvm::list_entries))
        .routes(routes!(kvm::list_map_entries))
        .routes(routes!(kvm::get_entry, kvm::put_entry, kvm::delete_entry))
        .routes(routes!(audit::list_audit))
        .routes(routes!(crate::apply::apply))
        .routes(routes!(crate::apply::export))
        .routes(routes!(ops::reload))
        .routes(routes!(ops::status))
        .routes(routes!(ops::openapi_document))
        .split_for_parts()
}

/// The OpenAPI 3.1 document of `/admin/v1`, as served at `/admin/v1/openapi.json`.
pub fn openapi_json() -> String {
    let (_, doc) = parts();
    let mut text = doc
        .to_pretty_json()
        .expect("the OpenAPI document should serialize");
    text.push('\n');
    text
}

/// The `/admin/v1` routes with authentication, for `state`.
pub(crate) fn router(
    store: Arc<dyn Store>,
    control: Arc<dyn Control>,
    session_ttl: Duration,
) -> Router {
    let (routes, _) = parts();
    let state = ApiState {
        store,
        control,
        session_ttl,
        openapi_json: openapi_json().into(),
    };
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ))
        .with_state(state)
}

/// A problem+json response for the document.
fn problem(description: &str) -> RefOr<openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

/// Errors any authenticated read can answer.
pub(crate) struct ReadErrors;

impl IntoResponses for ReadErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        [
            ("400", "Malformed query (`admin.bad_request`)"),
            ("401", "No valid bearer token (`admin.auth_required`)"),
            ("403", "The role does not allow this (`admin.forbidden`)"),
            ("404", "Unknown id or name (`admin.not_found`)"),
            (
                "503",
                "Store unavailable (`admin.store_unavailable`), with Retry-After",
            ),
        ]
        .into_iter()
        .map(|(code, text)| (code.to_owned(), problem(text)))
        .collect()
    }
}

/// Errors any write can answer.
pub(crate) struct WriteErrors;

impl IntoResponses for WriteErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        let mut map = ReadErrors::responses();
        for (code, text) in [
            ("400", "Malformed JSON (`admin.bad_request`)"),
            ("409", "Conflict with existing state (`admin.conflict`)"),
            (
                "412",
                "If-Match does not match (`admin.precondition_failed`)",
            ),
            ("413", "Body too large (`request.body_too_large`)"),
            (
                "415",
                "Body is not application/json (`admin.unsupported_media_type`)",
            ),
            (
                "422",
                "Invalid fields; `errors` lists each JSON Pointer (`admin.invalid`)",
            ),
        ] {
            map.insert(code.to_owned(), problem(text));
        }
        map
    }
}
