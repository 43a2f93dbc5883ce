//! The policy pipeline's contract: the [`Policy`] trait, the per-request [`Exchange`], and the
//! one chain executor ([`Pipeline`]) that runs policies in order with `enforce` or `monitor` mode.
//!
//! Compiled policies are immutable and shared by every request (`Arc<dyn Policy>`); per-request
//! state lives in the [`Exchange`]. This crate holds no concrete policy (see `portcullis-policies`)
//! and performs no I/O.

mod exchange;
mod pipeline;

use async_trait::async_trait;
pub use exchange::{
    Body, BodyLimit, BoxError, Exchange, PolicyEvent, Reply, RequestBody, RequestCtx, RequestOrigin,
};
pub use pipeline::{Mode, Pipeline, PipelineEntry, RequestOutcome};
use portcullis_core::GatewayError;

/// What a policy decided.
#[derive(Debug)]
pub enum Decision {
    /// Go on with the next policy (or the upstream).
    Continue,
    /// Answer the client now with this response; later policies and the upstream are skipped.
    Respond(Reply),
}

/// Which list of the configuration a policy instance was placed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A `request:` list (or the `pre_api` hook).
    Request,
    /// A `response:` list (or the `post_api` hook).
    Response,
}

/// One compiled, immutable policy instance.
///
/// Phase order for one exchange (drawn once, also in docs/ARCHITECTURE.md):
///
/// ```text
/// request:  pre_api hook → API request list → flow request list → upstream
/// response: on_response of every request-list policy that ran, innermost first
///           → flow response list → API response list → post_api hook → client
/// short-circuit (a policy answered or failed, or the upstream failed):
///           on_response of the request-list policies that ran, innermost first → client
/// ```
#[async_trait]
pub trait Policy: Send + Sync + 'static {
    /// The kebab-case kind, as written in config (e.g. `spike-arrest`).
    fn kind(&self) -> &'static str;

    /// True if `on_request` reads the request body: the executor then buffers it (within the
    /// API's body limit) before the chain runs.
    fn needs_request_body(&self) -> bool {
        false
    }

    /// Runs before the request goes upstream, for instances in a request list. May read and
    /// change the request (`ex.request`, `ex.body`) and the context. `Ok(Continue)` goes on,
    /// `Ok(Respond(r))` answers with `r`, `Err(e)` answers with the problem for `e`.
    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let _ = ex;
        Ok(Decision::Continue)
    }

    /// Runs when the response (from the upstream, or produced by the gateway) is about to be
    /// sent, for instances in a response list and for request-list instances that ran. May change
    /// `ex.response` headers. An error replaces the response with the problem for it.
    async fn on_response(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let _ = ex;
        Ok(Decision::Continue)
    }

    /// True if this policy does anything in `on_response`; lets the executor skip the call.
    fn has_response_phase(&self) -> bool {
        false
    }
}
