//! The authorization server: its state, its router and its listener (plain or TLS).
//!
//! It runs on its own listener, apart from API traffic and the admin API, so it can have its
//! own TLS (and later client-certificate) settings and never shares a route table with proxied
//! APIs.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::{get, post};
use portcullis_jose::DpopVerifier;
use portcullis_jose::dpop::DEFAULT_DPOP_MAX_AGE;
use portcullis_store::{Keyring, OAuthRepository, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::client_auth::ClientCache;
use crate::federation::{self, Federation};
use crate::keys::SigningKeys;
use crate::mtls::PeerCertificate;
use crate::resolver::LocalTokens;
use crate::settings::Settings;
use crate::writer::TokenWriter;
use crate::{authorize, discovery, introspect, revoke, token, userinfo};

/// How often expired tokens and codes are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// The running authorization server's state. Shared by its handlers.
pub struct AuthorizationServer {
    pub(crate) settings: Settings,
    pub(crate) store: Arc<dyn OAuthRepository>,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) keys: Arc<SigningKeys>,
    pub(crate) tokens: Arc<LocalTokens>,
    pub(crate) writer: TokenWriter,
    pub(crate) clients: ClientCache,
    pub(crate) federation: Federation,
    /// DPoP proofs at the token endpoint (the node's shared replay cache).
    pub(crate) dpop: DpopVerifier,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// Loads (creating on first run) the signing keys and binds `tokens`, the resolver the
    /// gateway's policies share, to this server.
    pub async fn new(
        settings: Settings,
        store: Arc<dyn OAuthRepository>,
        keyring: Arc<Keyring>,
        tokens: Arc<LocalTokens>,
    ) -> Result<Arc<Self>, StoreError> {
        let keys = Arc::new(SigningKeys::load(store.clone()).await?);
        keys.maintain(&settings, SystemTime::now()).await?;
        tokens.bind(
            store.clone(),
            keyring.clone(),
            keys.clone(),
            Some(settings.issuer.clone()),
        );
        let federation = Federation::new(&settings.login);
        Ok(Arc::new(Self {
            writer: TokenWriter::spawn(store.clone()),
            clients: ClientCache::new(
                keyring.clone(),
                &settings.issuer,
                &settings.endpoint("/oauth2/token"),
            ),
            settings,
            federation,
            dpop: DpopVerifier::shared(DEFAULT_DPOP_MAX_AGE),
            store,
            keyring,
            keys,
            tokens,
        }))
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The signing keys.
    pub fn keys(&self) -> &Arc<SigningKeys> {
        &self.keys
    }

    /// The HTTP routes.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(
                "/oauth2/authorize",
                get(authorize::get).post(authorize::post),
            )
            .route(federation::CALLBACK_PATH, get(federation::callback))
            .route("/oauth2/token", post(token::handle))
            .route(
                "/oauth2/userinfo",
                get(userinfo::handle).post(userinfo::handle),
            )
            .route("/oauth2/introspect", post(introspect::handle))
            .route("/oauth2/revoke", post(revoke::handle))
            .route("/oauth2/jwks", get(discovery::jwks))
            .route(
                "/.well-known/oauth-authorization-server",
                get(discovery::metadata),
            )
            .route(
                "/.well-known/openid-configuration",
                get(discovery::metadata),
            )
            .with_state(self.clone())
    }

    /// Runs the key schedule and the expired-token purge until `stop` turns true.
    pub async fn maintain(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let every = SigningKeys::interval(&self.settings);
        let stopped = stopped(stop);
        tokio::pin!(stopped);
        let mut last_purge = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = &mut stopped => return,
            }
            if let Err(e) = self.keys.maintain(&self.settings, SystemTime::now()).await {
                tracing::warn!(error = %e, "signing key maintenance failed");
            }
            if last_purge.elapsed() >= PURGE_EVERY {
                last_purge = tokio::time::Instant::now();
                // A token's row is kept a day past expiry so a late replay is still recognised.
                let before = SystemTime::now() - Duration::from_secs(24 * 3600);
                match self.store.purge_expired(before).await {
                    Ok(n) if n > 0 => tracing::info!(rows = n, "expired tokens purged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "token purge failed"),
                }
            }
        }
    }
}

/// Serves `router` on `listener` (TLS when `tls` is set) until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: watch::Receiver<bool>,
) {
    let stopped = stopped(stop);
    let Some(acceptor) = tls else {
        let shutdown = stopped;
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "authorization server listener failed");
        }
        return;
    };
    tokio::pin!(stopped);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "authorization server accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => return,
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            // The client certificate rustls verified (if any), once per connection, for the
            // handlers (tls_client_auth, certificate-bound tokens).
            let peer = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| PeerCertificate::new(c.as_ref()));
            let service = hyper_util::service::TowerToHyperService::new(router.map_request(
                move |mut req: http::Request<hyper::body::Incoming>| {
                    if let Some(p) = &peer {
                        req.extensions_mut().insert(p.clone());
                    }
                    req
                },
            ));
            let io = hyper_util::rt::TokioIo::new(stream);
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if let Err(e) = builder.serve_connection(io, service).await {
                tracing::debug!(error = %e, "authorization server connection ended");
            }
        });
    }
}

/// A TLS acceptor from PEM files (aws-lc-rs, TLS 1.2+, h2 and http/1.1).
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
