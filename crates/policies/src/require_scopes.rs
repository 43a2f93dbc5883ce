//! `require-scopes`: lets a request through only if the token a previous policy verified
//! (`verify-oauth-token`, or `verify-jwt` for third-party issuers) carries the listed scopes.
//! Place it in a flow to require scopes per method and path.
//!
//! Protects against tokens used beyond what they were granted (RFC 6750 §3.1). Without a
//! verified token the request is refused as unauthenticated (401 `token.missing`), so a
//! misordered pipeline fails closed. Errors: 403 `token.insufficient_scope` with
//! `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`. Phase: request.

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderValue, header};
use portcullis_core::GatewayError;
use portcullis_policy::{Decision, Exchange, Policy};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};
use crate::verify_jwt::JwtPrincipal;
use crate::verify_oauth_token::OAuthPrincipal;

/// Config of `require-scopes`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RequireScopesConfig {
    /// Scopes the token must carry.
    #[schemars(length(min = 1))]
    pub scopes: Vec<String>,
    /// `all` (default): every listed scope is required; `any`: one of them suffices.
    #[serde(default, rename = "match")]
    pub match_: ScopeMatch,
}

/// How the listed scopes combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeMatch {
    /// Every scope.
    #[default]
    All,
    /// At least one.
    Any,
}

impl PolicyConfig for RequireScopesConfig {
    fn compile(self, _ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        if self.scopes.is_empty() {
            return Err(vec![CompileError::at("scopes", "list at least one scope")]);
        }
        for (i, s) in self.scopes.iter().enumerate() {
            // RFC 6749 §3.3 scope-token: printable ASCII without space, '"' and '\'.
            let valid = !s.is_empty()
                && s.bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !valid {
                return Err(vec![CompileError::at(
                    format!("scopes[{i}]"),
                    format!("'{s}' is not a valid scope"),
                )]);
            }
        }
        let challenge = HeaderValue::from_str(&format!(
            "Bearer error=\"insufficient_scope\", scope=\"{}\"",
            self.scopes.join(" ")
        ))
        .map_err(|_| vec![CompileError::at("scopes", "cannot build WWW-Authenticate")])?;
        Ok(Arc::new(RequireScopes {
            scopes: self.scopes,
            any: self.match_ == ScopeMatch::Any,
            challenge,
        }))
    }
}

/// The compiled policy.
pub struct RequireScopes {
    scopes: Vec<String>,
    any: bool,
    challenge: HeaderValue,
}

#[async_trait]
impl Policy for RequireScopes {
    fn kind(&self) -> &'static str {
        "require-scopes"
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let held: &[String] = if let Some(p) = ex.request.extensions.get::<OAuthPrincipal>() {
            &p.0.scopes
        } else if let Some(p) = ex.request.extensions.get::<JwtPrincipal>() {
            &p.scopes
        } else {
            return Err(GatewayError::token_missing()
                .with_detail("no verified access token precedes require-scopes"));
        };
        let has = |s: &String| held.contains(s);
        let ok = if self.any {
            self.scopes.iter().any(has)
        } else {
            self.scopes.iter().all(has)
        };
        if ok {
            Ok(Decision::Continue)
        } else {
            Err(GatewayError::token_insufficient_scope()
                .with_detail(format!(
                    "the token lacks {} of: {}",
                    if self.any { "any" } else { "one or more" },
                    self.scopes.join(" ")
                ))
                .with_extra("required_scopes", self.scopes.clone().into())
                .with_header(header::WWW_AUTHENTICATE, self.challenge.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_util::{compile_errors, err};

    #[test]
    fn bad_scopes_are_named() {
        assert_eq!(
            compile_errors("require-scopes", json!({"scopes": ["ok", "bad scope"]})),
            vec![err("scopes[1]", "'bad scope' is not a valid scope")]
        );
        assert_eq!(
            compile_errors("require-scopes", json!({"scopes": []})),
            vec![err("scopes", "list at least one scope")]
        );
    }
}
