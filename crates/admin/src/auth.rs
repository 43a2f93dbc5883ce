//! Who is calling, and may they: every `/admin/v1` request but `POST /admin/v1/login` carries
//! `Authorization: Bearer <token>` (a login session or an API token), resolved by the store
//! into an [`AdminPrincipal`]; each handler then states the role it needs by its extractor.
//!
//! Roles (see docs/admin-api.md):
//! - [`Reader`]: any role, for reads (`read-only` can do nothing else).
//! - [`Writer`]: `admin` or `operator`: every change to the catalog, products, KVMs, reload.
//! - [`AdminOnly`]: `admin`: other people's admin users and tokens, KVM reveal.
//! - [`Caller`] itself (any role) for self-service under `/admin/v1/me`.
//!
//! Authentication happens in one middleware so a handler that forgets its extractor is still
//! never reachable anonymously; the authorization matrix test checks every route × role.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use portcullis_store::{Actor, AdminPrincipal, AdminRole};

use crate::error::ApiError;
use crate::v1::ApiState;

/// The only route reachable without a token.
pub(crate) const LOGIN_PATH: &str = "/admin/v1/login";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User, token and effective role.
    pub principal: AdminPrincipal,
    /// How the audit log names them: `admin:<username>` (session) or `token:<name>`.
    pub actor: Actor,
}

impl Caller {
    fn new(principal: AdminPrincipal) -> Self {
        let actor = if principal.token.session {
            Actor(format!("admin:{}", principal.user.username))
        } else {
            Actor(format!("token:{}", principal.token.name))
        };
        Caller { principal, actor }
    }

    /// Effective role.
    pub fn role(&self) -> AdminRole {
        self.principal.role
    }
}

/// Resolves the bearer token of every request except login; 401 without a valid one.
pub(crate) async fn authenticate(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    if req.method() == Method::POST && req.uri().path() == LOGIN_PATH {
        return next.run(req).await;
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return ApiError::auth_required("send Authorization: Bearer <token>").into_response();
    };
    match state.store.authenticate_admin_token(token).await {
        Ok(principal) => {
            req.extensions_mut().insert(Caller::new(principal));
            next.run(req).await
        }
        Err(portcullis_store::StoreError::Unauthorized) => {
            ApiError::auth_required("unknown, expired or revoked token").into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::auth_required("send Authorization: Bearer <token>"))
    }
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $allowed:pat, $needs:literal) => {
        $(#[$doc])*
        pub(crate) struct $name(pub(crate) Caller);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                let caller = Caller::from_request_parts(parts, state).await?;
                if matches!(caller.role(), $allowed) {
                    Ok($name(caller))
                } else {
                    Err(ApiError::forbidden(format!(
                        concat!("this operation needs the ", $needs, " role; yours is {}"),
                        caller.role()
                    )))
                }
            }
        }
    };
}

role_extractor!(
    /// Any authenticated caller (reads).
    Reader, _, "read-only"
);
role_extractor!(
    /// `admin` or `operator` (catalog writes).
    Writer, AdminRole::Admin | AdminRole::Operator, "operator or admin"
);
role_extractor!(
    /// `admin` only (admin identities, KVM reveal).
    AdminOnly, AdminRole::Admin, "admin"
);
