//! Test support: an in-process gateway on ephemeral ports ([`TestGateway`]), a recording
//! upstream ([`Recorder`]), fault upstreams (refusing, hanging, resetting) and small HTTP and
//! raw-socket clients. Never shipped in the binary.

mod client;
mod gateway;
mod upstream;

pub use client::{Reply, get, raw, request, send};
pub use gateway::{TestGateway, test_keyring};
pub use upstream::{Recorded, Recorder, hanging_upstream, refused_address, resetting_upstream};
