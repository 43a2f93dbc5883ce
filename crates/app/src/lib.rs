//! Composition root: opens the store, keeps the credential index current, compiles the config,
//! binds the listeners and the admin listener, and reloads (file change, SIGHUP, admin call) or
//! shuts down (SIGTERM) without dropping requests.

mod control;
pub mod demo;
mod oauth;
mod start;

pub use control::App;
pub use start::{
    MASTER_KEY_FILE_ENV, Running, ServeOptions, StartError, load_keyring, open_store, run, start,
};
