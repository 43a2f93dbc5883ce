//! Threat-protection engines for the Portcullis gateway.
//!
//! Each engine inspects a request or response body in one streaming pass, without building a
//! document tree, and rejects bodies that exceed configured structural limits (the classic
//! denial-of-service vectors: deep nesting, huge containers, giant strings, entity expansion).
//! Violations are client errors: they name the limit that was exceeded and where in the
//! document it happened, so the gateway can answer 400 with a useful message.
//!
//! The engines also hand every string value to a visitor together with its location, so that
//! content inspection (injection detection) can run in the same pass.

pub mod charset;
pub mod injection;
pub mod json;
pub mod openapi;
pub mod violation;
pub mod xml;

pub use violation::Violation;
