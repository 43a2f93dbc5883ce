//! The configuration file and its compilation.
//!
//! Three separate things live here, as the style guide asks: the external model (`model`, the
//! only place that knows the YAML shape), validation (JSON Schema + semantic checks, every error
//! with its field path and source line) and compilation into the immutable [`Snapshot`] the data
//! plane runs on.

pub mod authorization_server;
pub mod client_certs;
pub mod docgen;
pub mod model;
mod snapshot;
mod template;
pub mod yaml;

pub use authorization_server::AuthorizationServerSpec;
pub use snapshot::{
    ApiRoute, EdgeLimits, FlowRoute, HealthSpec, HostPattern, ListenerSpec, ServerSettings,
    Snapshot, StoreSpec, TargetSpec, UpstreamSpec,
};
pub use template::PathTemplate;

mod compile;
mod error;
mod schema;

pub use compile::{compile_str, load_file};
pub use error::{ConfigError, ConfigErrors};
pub use schema::editor_schema;
