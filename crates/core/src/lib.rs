//! Domain types shared by every Portcullis crate.
//!
//! This crate owns the vocabulary: the gateway error type with its stable error codes
//! ([`GatewayError`]), the problem+json body those errors become, human-friendly units used in
//! configuration ([`ByteSize`], [`DurationSpec`], [`Rate`]) and the caller identity attached to a
//! request ([`Identity`]), and what an API product opens ([`ProductScope`], [`ResourcePattern`]:
//! Apigee's resource-path wildcards). It performs no I/O.

mod error;
mod identity;
mod problem;
mod product_scope;
mod tls;
mod units;

pub use error::{ERROR_CODES, ErrorSource, GatewayError};
pub use identity::{ApiProduct, Identity};
pub use problem::{PROBLEM_CONTENT_TYPE, problem_body};
pub use product_scope::{PatternError, ProductScope, ResourcePattern, ScopeMiss};
pub use tls::ClientCertThumbprint;
pub use units::{ByteSize, DurationSpec, Rate, UnitError};
