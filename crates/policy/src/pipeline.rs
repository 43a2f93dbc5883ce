//! The one chain executor: runs the policies of an exchange in order and implements
//! `mode: monitor` once for every policy.
//!
//! ```text
//! request:  pre_api hook → API request list → flow request list → upstream
//! response: on_response of request-list policies that ran (innermost first)
//!           → flow response list → API response list → post_api hook
//! ```

use std::sync::Arc;

use portcullis_core::GatewayError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Decision, Exchange, Policy, PolicyEvent, Reply};

/// Whether a policy's blocking decisions take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Blocks, answers and errors take effect (the default).
    #[default]
    Enforce,
    /// Would-be blocks are recorded as events and counted; the request goes on untouched.
    Monitor,
}

/// A policy placed in a pipeline, with its mode.
#[derive(Clone)]
pub struct PipelineEntry {
    /// The compiled policy.
    pub policy: Arc<dyn Policy>,
    /// Enforce or monitor.
    pub mode: Mode,
}

impl std::fmt::Debug for PipelineEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?})", self.policy.kind(), self.mode)
    }
}

/// What the request phase decided.
#[derive(Debug)]
pub enum RequestOutcome {
    /// Send the request upstream.
    Forward,
    /// Answer with this response.
    Respond(Reply),
    /// Answer with the problem for this error.
    Fail(GatewayError),
}

/// The resolved, ordered policies of one API (or one API + flow), built at config compile time.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    request: Vec<PipelineEntry>,
    response: Vec<PipelineEntry>,
    needs_body: bool,
}

impl Pipeline {
    /// `request` in execution order (hooks, API, flow); `response` likewise (flow, API, hooks).
    pub fn new(request: Vec<PipelineEntry>, response: Vec<PipelineEntry>) -> Self {
        let needs_body = request.iter().any(|e| e.policy.needs_request_body());
        Self {
            request,
            response,
            needs_body,
        }
    }

    /// True if some request policy reads the body, so it must be buffered first.
    pub fn needs_request_body(&self) -> bool {
        self.needs_body
    }

    /// Kinds in request order, for the admin API and logs.
    pub fn request_kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.request.iter().map(|e| e.policy.kind())
    }

    /// Kinds in response order.
    pub fn response_kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.response.iter().map(|e| e.policy.kind())
    }

    /// Runs the request phase. Returns the outcome and how many request policies ran (pass it
    /// to [`Pipeline::run_response`]).
    pub async fn run_request(&self, ex: &mut Exchange) -> (RequestOutcome, usize) {
        for (i, entry) in self.request.iter().enumerate() {
            let result = entry.policy.on_request(ex).await;
            if let Some(outcome) = apply(entry, result, ex) {
                return (outcome, i + 1);
            }
        }
        (RequestOutcome::Forward, self.request.len())
    }

    /// Runs the response phase over `ex.response`. `ran` is what [`Pipeline::run_request`]
    /// returned; `upstream_answered` is false when the response was produced by the gateway
    /// (short-circuit or upstream failure), in which case only the request-list policies that ran
    /// see it. Returns a replacement outcome if an enforcing policy answered or failed.
    pub async fn run_response(
        &self,
        ex: &mut Exchange,
        ran: usize,
        upstream_answered: bool,
    ) -> Option<RequestOutcome> {
        for entry in self.request[..ran.min(self.request.len())].iter().rev() {
            if entry.policy.has_response_phase() {
                let result = entry.policy.on_response(ex).await;
                if let Some(outcome) = apply(entry, result, ex) {
                    return Some(outcome);
                }
            }
        }
        if !upstream_answered {
            return None;
        }
        for entry in &self.response {
            let result = entry.policy.on_response(ex).await;
            if let Some(outcome) = apply(entry, result, ex) {
                return Some(outcome);
            }
        }
        None
    }
}

/// Applies one policy result under its mode: `None` means go on.
///
/// Monitor mode downgrades *errors* (would-be blocks) to events. A `Respond` is a normal answer
/// (a CORS preflight, a `raise-fault` with a body), not a block, so it is honoured in both modes.
fn apply(
    entry: &PipelineEntry,
    result: Result<Decision, GatewayError>,
    ex: &mut Exchange,
) -> Option<RequestOutcome> {
    let err = match result {
        Ok(Decision::Continue) => return None,
        Ok(Decision::Respond(reply)) => return Some(RequestOutcome::Respond(reply)),
        Err(err) => err,
    };
    if entry.mode == Mode::Enforce {
        return Some(RequestOutcome::Fail(err));
    }
    tracing::debug!(
        policy = entry.policy.kind(),
        code = err.code(),
        "monitor mode: would have blocked"
    );
    ex.ctx.events.push(PolicyEvent {
        policy: entry.policy.kind(),
        code: err.code(),
        mode: Mode::Monitor,
        detail: err.detail().map(str::to_owned),
    });
    None
}

#[cfg(test)]
mod tests;
