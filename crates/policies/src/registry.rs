//! The one table of policy kinds: name, JSON Schema and compile function. Registering a new
//! policy is one line in [`KINDS`].

use std::sync::Arc;

use portcullis_policy::{Mode, Phase, PipelineEntry, Policy};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;

/// Runtime services policies may use (injected, never looked up globally).
#[derive(Clone, Default)]
pub struct PolicyDeps {
    /// The in-memory credential index, kept current by the store's change feed.
    pub keys: Arc<portcullis_store::KeyIndex>,
    /// The key-value maps of the environments this node serves, kept current like `keys`.
    pub kvm: Arc<portcullis_store::KvmSnapshot>,
    /// Token resolution of the built-in OAuth authorization server (bound once the store is).
    pub oauth: Arc<portcullis_oauth::LocalTokens>,
}

/// What a compile step knows besides its own config.
pub struct CompileCtx<'a> {
    /// Which list the policy was placed in.
    pub phase: Phase,
    /// Runtime services.
    pub deps: &'a PolicyDeps,
    /// Directory of the config file: relative paths in policy configs (e.g. an OpenAPI
    /// document) resolve against it.
    pub base_dir: &'a std::path::Path,
}

/// A config error inside one policy, with the path relative to the policy's config object
/// (empty for the object itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Dotted path inside the policy config, e.g. `rate` or `allow[2]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl CompileError {
    /// An error at `path`.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

type CompileFn =
    fn(serde_json::Value, &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>>;
type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// One policy kind.
pub struct KindEntry {
    /// Kebab-case name used in config.
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// JSON Schema of its config (without `mode`).
    pub schema: SchemaFn,
    compile: CompileFn,
}

/// A policy config type: deserialised, then compiled.
pub trait PolicyConfig: DeserializeOwned + JsonSchema + Sized {
    /// Validates and compiles into the runtime policy.
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>>;
}

fn compile_with<C: PolicyConfig>(
    value: serde_json::Value,
    ctx: &CompileCtx<'_>,
) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
    let config: C = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        vec![CompileError::at(path, e.into_inner().to_string())]
    })?;
    config.compile(ctx)
}

#[allow(unused_macros)] // used as soon as the first kind registers
macro_rules! kind {
    ($name:literal, $summary:literal, $config:ty) => {
        KindEntry {
            name: $name,
            summary: $summary,
            schema: <$config as JsonSchema>::json_schema,
            compile: compile_with::<$config>,
        }
    };
}

/// Every built-in policy kind.
static KINDS: &[KindEntry] = &[
    kind!(
        "verify-api-key",
        "Require a valid API key and identify the calling app.",
        crate::verify_api_key::VerifyApiKeyConfig
    ),
    kind!(
        "verify-jwt",
        "Require a valid JWT from a configured issuer (JWKS, pinned algorithms).",
        crate::verify_jwt::VerifyJwtConfig
    ),
    kind!(
        "verify-oauth-token",
        "Require an active access token of the built-in OAuth authorization server.",
        crate::verify_oauth_token::VerifyOAuthTokenConfig
    ),
    kind!(
        "require-scopes",
        "Require scopes of the verified access token (403 insufficient_scope).",
        crate::require_scopes::RequireScopesConfig
    ),
    kind!(
        "phantom-token",
        "Forward a signed JWT with the verified opaque token's claims to the backend (cached).",
        crate::phantom_token::PhantomTokenConfig
    ),
    kind!(
        "access-control",
        "Allow or deny clients by IP address or network.",
        crate::access_control::AccessControlConfig
    ),
    kind!(
        "spike-arrest",
        "Smooth each caller's request rate (429 when exceeded).",
        crate::spike_arrest::SpikeArrestConfig
    ),
    kind!(
        "cors",
        "Answer CORS preflights and let chosen browser origins read responses.",
        crate::cors::CorsConfig
    ),
    kind!(
        "request-size-limit",
        "Refuse request bodies above a size (413).",
        crate::request_size_limit::RequestSizeLimitConfig
    ),
    kind!(
        "set-headers",
        "Add, replace or remove request or response headers.",
        crate::set_headers::SetHeadersConfig
    ),
    kind!(
        "kvm-lookup",
        "Put a value of the environment's encrypted key-value maps into a request header.",
        crate::kvm_lookup::KvmLookupConfig
    ),
    kind!(
        "raise-fault",
        "Answer at once with a fixed error or response.",
        crate::raise_fault::RaiseFaultConfig
    ),
    kind!(
        "json-threat-protection",
        "Refuse JSON bodies that are malformed or exceed structural limits (400).",
        crate::json_threat_protection::JsonThreatProtectionConfig
    ),
    kind!(
        "xml-threat-protection",
        "Refuse XML bodies with DOCTYPEs, entities or beyond structural limits (400).",
        crate::xml_threat_protection::XmlThreatProtectionConfig
    ),
    kind!(
        "injection-protection",
        "Block SQLi, XSS, traversal, command and code injection in any request part (400).",
        crate::injection_protection::InjectionProtectionConfig
    ),
    kind!(
        "openapi-validation",
        "Let through only requests the API's OpenAPI document describes.",
        crate::openapi_validation::OpenApiValidationConfig
    ),
];

/// All registered kinds, in documentation order.
pub fn policy_kinds() -> &'static [KindEntry] {
    KINDS
}

/// Compiles one policy from its kind name and config object (which may carry `mode`).
pub fn compile_policy(
    kind: &str,
    mut config: serde_json::Value,
    ctx: &CompileCtx<'_>,
) -> Result<PipelineEntry, Vec<CompileError>> {
    let entry = KINDS.iter().find(|k| k.name == kind).ok_or_else(|| {
        let known: Vec<_> = KINDS.iter().map(|k| k.name).collect();
        vec![CompileError::at(
            "",
            format!("unknown policy kind '{kind}' (known: {})", known.join(", ")),
        )]
    })?;
    if config.is_null() {
        config = serde_json::Value::Object(Default::default());
    }
    let mode = match config.as_object_mut().and_then(|m| m.remove("mode")) {
        None => Mode::Enforce,
        Some(v) => serde_json::from_value(v)
            .map_err(|_| vec![CompileError::at("mode", "must be 'enforce' or 'monitor'")])?,
    };
    let policy = (entry.compile)(config, ctx)?;
    Ok(PipelineEntry { policy, mode })
}
