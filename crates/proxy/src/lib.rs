//! The data plane: listeners and TLS, edge checks, routing, the policy pipeline, upstream pools
//! with health checks, and the one map from errors to problem+json responses.
//!
//! The hot path never waits on a database or a lock held across I/O: it reads the current
//! [`portcullis_config::Snapshot`] once per request and runs on it to the end.

pub mod upstream;

pub mod api_metrics;
pub mod body;
pub mod client_cert;
pub mod content_coding;
pub mod edge;
pub mod errors;
pub mod forwarding;
pub mod framing;
pub mod gateway;
pub mod handler;
pub mod normalize;
pub mod observe;
pub mod server;
