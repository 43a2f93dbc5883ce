//! Test support: an in-process gateway on ephemeral ports ([`TestGateway`]), a recording
//! upstream ([`Recorder`]), fault upstreams (refusing, hanging, resetting) and small HTTP and
//! raw-socket clients, catalog fixtures (products, credentials), OAuth client fixtures
//! ([`oauth`]) and hand-built JWS for forged-token tests ([`forge`]). Never shipped in the
//! binary.

mod catalog;
mod client;
pub mod forge;
mod gateway;
mod interop;
pub mod mtls;
pub mod oauth;
mod pg;
mod upstream;

pub use catalog::{ALL_PRODUCT, IssuedKey, ensure_product, product_spec};
pub use client::{Reply, get, post, raw, request, send};
pub use gateway::{TestGateway, test_keyring};
pub use interop::{interop_python, run_interop_script};
pub use pg::{PgSchema, pg_base_url};
pub use upstream::{Recorded, Recorder, hanging_upstream, refused_address, resetting_upstream};
