//! The running application's control surface: reload and status, shared by the file watcher,
//! SIGHUP and the admin API.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use portcullis_admin::Control;
use portcullis_config::{ConfigError, ConfigErrors, ServerSettings, load_file};
use portcullis_policies::PolicyDeps;
use portcullis_proxy::gateway::Gateway;
use serde_json::json;

/// The running gateway, as the control plane sees it.
pub struct App {
    pub(crate) config_path: PathBuf,
    pub(crate) deps: PolicyDeps,
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) server: ServerSettings,
    pub(crate) generation: AtomicU64,
    pub(crate) ready: AtomicBool,
    pub(crate) reload_lock: tokio::sync::Mutex<()>,
}

impl App {
    /// Re-reads the config file and swaps it in if it is entirely valid. A broken file never
    /// replaces a working one; the errors are returned (and logged) instead.
    pub async fn reload(&self, trigger: &'static str) -> Result<u64, ConfigErrors> {
        let _serial = self.reload_lock.lock().await;
        let path = self.config_path.clone();
        let deps = self.deps.clone();
        let compiled = tokio::task::spawn_blocking(move || load_file(&path, &deps))
            .await
            .unwrap_or_else(|e| {
                Err(ConfigErrors(vec![ConfigError {
                    path: String::new(),
                    line: None,
                    message: format!("config compilation panicked: {e}"),
                }]))
            });
        let result = compiled.and_then(|snapshot| {
            if snapshot.server != self.server {
                return Err(ConfigErrors(vec![ConfigError {
                    path: "listeners".into(),
                    line: None,
                    message: "listeners, admin and store settings cannot change while running; restart to apply them".into(),
                }]));
            }
            self.gateway.install(snapshot);
            Ok(self.generation.fetch_add(1, Ordering::SeqCst) + 1)
        });
        match &result {
            Ok(generation) => {
                metrics::counter!("portcullis_config_reloads_total", "result" => "ok").increment(1);
                tracing::info!(trigger, generation, "configuration reloaded");
            }
            Err(errors) => {
                metrics::counter!("portcullis_config_reloads_total", "result" => "rejected")
                    .increment(1);
                for e in &errors.0 {
                    tracing::error!(trigger, error = %e, "configuration rejected; still serving the previous one");
                }
            }
        }
        result
    }

    /// Current config generation (1 after start, +1 per successful reload).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The data plane.
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Injected policy services (the credential index).
    pub fn deps(&self) -> &PolicyDeps {
        &self.deps
    }
}

#[async_trait]
impl Control for App {
    async fn reload(&self) -> Result<u64, ConfigErrors> {
        App::reload(self, "admin").await
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn status(&self) -> serde_json::Value {
        let runtime = self.gateway.current();
        let apis: Vec<_> = runtime
            .snapshot
            .apis
            .iter()
            .map(|api| {
                let health: Vec<_> = runtime.groups[api.index]
                    .health()
                    .into_iter()
                    .map(
                        |t| json!({"target": t.origin, "healthy": t.healthy, "ejected": t.ejected}),
                    )
                    .collect();
                let flows: Vec<_> = api
                    .flows
                    .iter()
                    .map(|f| {
                        json!({
                            "name": f.name,
                            "request": f.pipeline.request_kinds().collect::<Vec<_>>(),
                            "response": f.pipeline.response_kinds().collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                json!({
                    "name": api.name,
                    "base_path": api.base_path,
                    "environments": api.environments,
                    "request": api.pipeline.request_kinds().collect::<Vec<_>>(),
                    "response": api.pipeline.response_kinds().collect::<Vec<_>>(),
                    "flows": flows,
                    "upstream": health,
                })
            })
            .collect();
        let listeners: Vec<_> = self
            .server
            .listeners
            .iter()
            .map(|l| json!({"name": l.name, "address": l.address.to_string(), "environment": l.environment}))
            .collect();
        json!({
            "generation": self.generation(),
            "credentials": self.deps.keys.len(),
            "environments": runtime.snapshot.environments,
            "listeners": listeners,
            "apis": apis,
        })
    }
}
