//! Wiring of the built-in OAuth authorization server: its settings from the compiled config,
//! its own listener, its key schedule, and the token resolver the gateway's OAuth policies
//! share (bound here whether or not this node runs the server, so `verify-oauth-token` works
//! on gateway-only nodes of a cluster too).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portcullis_config::AuthorizationServerSpec;
use portcullis_config::authorization_server::AccessTokenFormat;
use portcullis_config::client_certs::ClientCertSpec;
use portcullis_oauth::{
    Algorithm, AuthorizationServer, LocalTokens, LoginSettings, ProviderSettings, Settings,
    SigningKeys, SigningSettings, TlsSettings, TokenFormat,
};
use portcullis_store::{Keyring, OAuthRepository};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::StartError;

/// How often a node without the server re-reads the published signing keys.
const KEY_RELOAD: Duration = Duration::from_secs(30);

fn settings(spec: &AuthorizationServerSpec) -> Settings {
    let mut s = Settings::new(spec.address, spec.issuer.clone());
    s.tls = spec.tls.as_ref().map(|(cert, key)| TlsSettings {
        cert: cert.clone(),
        key: key.clone(),
        client_ca: spec.client_ca.clone(),
    });
    s.access_token_format = match spec.access_token_format {
        AccessTokenFormat::Opaque => TokenFormat::Opaque,
        AccessTokenFormat::Jwt => TokenFormat::Jwt,
    };
    s.access_token_lifetime = spec.access_token_lifetime;
    s.refresh_token_lifetime = spec.refresh_token_lifetime;
    s.code_lifetime = spec.code_lifetime;
    s.id_token_lifetime = spec.id_token_lifetime;
    s.signing = SigningSettings {
        algorithm: spec
            .signing_algorithm
            .as_str()
            .parse::<Algorithm>()
            .unwrap_or(Algorithm::RS256),
        rotate_every: spec.rotate_every,
        publish_ahead: spec.publish_ahead,
    };
    s.login = LoginSettings {
        local_users: spec.login.local_users,
        providers: spec
            .login
            .providers
            .iter()
            .map(|p| ProviderSettings {
                name: p.name.clone(),
                display_name: p.display_name.clone(),
                issuer: p.issuer.clone(),
                client_id: p.client_id.clone(),
                client_secret: p.client_secret.expose().to_owned(),
                scopes: p.scopes.clone(),
                claims: p
                    .claims
                    .iter()
                    .map(|(l, r)| (l.clone(), r.clone()))
                    .collect(),
                // Validated against the asymmetric names by the config.
                algorithms: p
                    .algorithms
                    .iter()
                    .filter_map(|a| a.parse::<Algorithm>().ok())
                    .collect(),
            })
            .collect(),
    };
    s
}

/// Starts the authorization server if configured (returning its bound address) and binds
/// `tokens` to the store either way.
pub(crate) async fn start(
    spec: Option<&AuthorizationServerSpec>,
    store: Arc<dyn OAuthRepository>,
    keyring: Arc<Keyring>,
    tokens: &Arc<LocalTokens>,
    tasks: &mut JoinSet<()>,
    stop: watch::Receiver<bool>,
) -> Result<Option<SocketAddr>, StartError> {
    let Some(spec) = spec else {
        let keys = Arc::new(SigningKeys::load(store.clone()).await?);
        tokens.bind(store, keyring, keys.clone(), None);
        let mut stop = stop;
        tasks.spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    () = tokio::time::sleep(KEY_RELOAD) => {}
                    () = &mut stopped => return,
                }
                if let Err(e) = keys.reload().await {
                    tracing::warn!(error = %e, "signing key reload failed");
                }
            }
        });
        return Ok(None);
    };
    let settings = settings(spec);
    let tls = match &spec.tls {
        Some((cert, key)) => {
            // Client certificates are asked for but optional: they authenticate only the
            // clients registered for tls_client_auth, and bind tokens when presented.
            let client_certs = spec.client_ca.as_ref().map(|ca| ClientCertSpec {
                ca: ca.clone(),
                required: false,
            });
            Some(
                portcullis_proxy::server::tls_acceptor_with_client_certs(
                    cert,
                    key,
                    client_certs.as_ref(),
                )
                .map_err(|source| StartError::Tls {
                    name: "authorization_server".into(),
                    source,
                })?,
            )
        }
        None => None,
    };
    let server = AuthorizationServer::new(settings, store, keyring, tokens.clone()).await?;
    let listener = TcpListener::bind(spec.address)
        .await
        .map_err(|source| StartError::Bind {
            name: "authorization_server".into(),
            address: spec.address,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(spec.address);
    tracing::info!(%addr, issuer = %spec.issuer, tls = tls.is_some(), "authorization server listening");
    tasks.spawn(portcullis_oauth::serve(
        listener,
        server.router(),
        tls,
        stop.clone(),
    ));
    tasks.spawn(server.maintain(stop));
    Ok(Some(addr))
}
