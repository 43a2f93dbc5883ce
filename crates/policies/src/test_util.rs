//! Test helpers shared by the policy modules: hand-built exchanges, compiling through the
//! registry, and a tiny stand-in for the proxy that drives a [`Pipeline`] end to end.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use portcullis_policy::{
    Exchange, Mode, Phase, Pipeline, PipelineEntry, Policy, RequestBody, RequestCtx, RequestOutcome,
};

use crate::{CompileCtx, CompileError, PolicyDeps, compile_policy};

/// An exchange for `method uri` with `headers`, from 192.0.2.10, streaming an empty body.
pub(crate) fn exchange(method: &str, uri: &str, headers: &[(&str, &str)]) -> Exchange {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (request, ()) = builder
        .body(())
        .expect("test request is valid")
        .into_parts();
    Exchange {
        request,
        body: RequestBody::Streaming(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync()),
        response: None,
        ctx: RequestCtx {
            request_id: "test-1".into(),
            client_ip: "192.0.2.10".parse().expect("literal IP"),
            environment: "default".into(),
            api: "api".into(),
            base_path: "/".into(),
            flow: None,
            path: uri.into(),
            identity: None,
            received_at: Instant::now(),
            events: Vec::new(),
            origin: None,
        },
    }
}

/// A GET exchange from `ip`.
pub(crate) fn from_ip(ip: &str) -> Exchange {
    let mut ex = exchange("GET", "/", &[]);
    ex.ctx.client_ip = ip.parse::<IpAddr>().expect("test IP");
    ex
}

/// Compiles `kind` with `config` (which may carry `mode`) for a list of `phase`.
pub(crate) fn compile_in(
    kind: &str,
    config: serde_json::Value,
    phase: Phase,
) -> Result<PipelineEntry, Vec<CompileError>> {
    let deps = PolicyDeps::default();
    compile_policy(
        kind,
        config,
        &CompileCtx {
            phase,
            deps: &deps,
            base_dir: std::path::Path::new("."),
        },
    )
}

/// Compiles for a request list, panicking on config errors.
pub(crate) fn entry(kind: &str, config: serde_json::Value) -> PipelineEntry {
    compile_in(kind, config, Phase::Request).unwrap_or_else(|e| panic!("{kind}: {e:?}"))
}

/// The errors of a config that must not compile (request list).
pub(crate) fn compile_errors(kind: &str, config: serde_json::Value) -> Vec<CompileError> {
    match compile_in(kind, config, Phase::Request) {
        Ok(entry) => panic!("{kind} compiled unexpectedly: {entry:?}"),
        Err(errors) => errors,
    }
}

/// Shorthand for an expected error.
pub(crate) fn err(path: &str, message: &str) -> CompileError {
    CompileError::at(path, message)
}

/// Wraps an already built policy as an enforcing entry.
pub(crate) fn enforcing(policy: Arc<dyn Policy>) -> PipelineEntry {
    PipelineEntry {
        policy,
        mode: Mode::Enforce,
    }
}

/// A request pipeline of `request` entries with no response list.
pub(crate) fn request_pipeline(request: Vec<PipelineEntry>) -> Pipeline {
    Pipeline::new(request, Vec::new())
}

/// What the client would receive, as far as policies decide it.
#[derive(Debug)]
pub(crate) struct Done {
    /// The request outcome (replaced by a response-phase outcome if one answered).
    pub(crate) outcome: RequestOutcome,
    /// Final response head.
    pub(crate) response: http::response::Parts,
}

impl Done {
    /// The stable code if the exchange failed.
    pub(crate) fn code(&self) -> Option<&'static str> {
        match &self.outcome {
            RequestOutcome::Fail(e) => Some(e.code()),
            _ => None,
        }
    }

    /// A response header as a string ("" when absent).
    pub(crate) fn header(&self, name: &str) -> &str {
        self.response
            .headers
            .get(name)
            .map(|v| v.to_str().expect("test header is ASCII"))
            .unwrap_or("")
    }
}

/// Plays the proxy: runs the request phase, builds the response head the proxy would build (the
/// upstream's `upstream_status`, the reply, or the error's status and headers) and runs the
/// response phase over it.
pub(crate) async fn run(pipeline: &Pipeline, ex: &mut Exchange, upstream_status: u16) -> Done {
    let (outcome, ran) = pipeline.run_request(ex).await;
    let (head, upstream_answered) = head_for(&outcome, upstream_status);
    ex.response = Some(head);
    let outcome = match pipeline.run_response(ex, ran, upstream_answered).await {
        Some(replacement) => {
            ex.response = Some(head_for(&replacement, upstream_status).0);
            replacement
        }
        None => outcome,
    };
    let response = ex.response.take().expect("response head was set above");
    Done { outcome, response }
}

fn head_for(outcome: &RequestOutcome, upstream_status: u16) -> (http::response::Parts, bool) {
    let mut builder = http::Response::builder();
    let upstream = match outcome {
        RequestOutcome::Forward => {
            builder = builder.status(upstream_status);
            true
        }
        RequestOutcome::Respond(reply) => {
            builder = builder.status(reply.status());
            for (name, value) in reply.headers() {
                builder = builder.header(name, value);
            }
            false
        }
        RequestOutcome::Fail(e) => {
            builder = builder.status(e.status());
            for (name, value) in e.headers() {
                builder = builder.header(name, value);
            }
            false
        }
    };
    let (parts, ()) = builder
        .body(())
        .expect("test response is valid")
        .into_parts();
    (parts, upstream)
}

/// Asserts the JSON Schema of a config documents every property (those docs become the user
/// reference) and forbids unknown ones.
pub(crate) fn assert_schema_documented<C: schemars::JsonSchema>() {
    let schema = serde_json::to_value(schemars::schema_for!(C)).expect("schema serialises");
    let properties = schema["properties"]
        .as_object()
        .expect("config is an object");
    assert!(!properties.is_empty(), "no properties: {schema}");
    for (name, property) in properties {
        let description = property["description"].as_str().unwrap_or("");
        assert!(
            !description.is_empty(),
            "field `{name}` has no doc: {property}"
        );
    }
    assert_eq!(schema["additionalProperties"], false, "deny_unknown_fields");
}
