//! Built-in policies, one module each, and the [`registry`] that compiles them from config.
//!
//! Each module holds, in order: what it protects against, its `Config` (serde; every field
//! documented, which becomes docs/configuration.md), `Config::compile`, the compiled policy and
//! its `impl Policy`, and tests. Policies never reach a database: what they need at runtime comes
//! through [`PolicyDeps`].

pub mod access_control;
mod body_charset;
pub mod cors;
pub mod injection_protection;
pub mod json_threat_protection;
pub mod kvm_lookup;
pub mod openapi_validation;
pub mod phantom_token;
pub mod raise_fault;
pub mod registry;
pub mod request_size_limit;
pub mod require_scopes;
pub mod set_headers;
pub mod spike_arrest;
#[cfg(test)]
mod test_util;
pub mod verify_api_key;
pub mod verify_jwt;
pub mod verify_oauth_token;
pub mod xml_threat_protection;

pub use registry::{CompileCtx, CompileError, PolicyDeps, compile_policy, policy_kinds};
