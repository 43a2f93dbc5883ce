//! `portcullis keys create|list|revoke`: API keys in the store named by the config file.
//!
//! `create` issues a credential (consumer key + secret) through the catalog, associated with
//! the API products named by `--product`; `verify-api-key` admits a key only for what those
//! products cover (unless the API sets `require_product: false`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Args, Subcommand};
use portcullis_config::StoreSpec;
use portcullis_policies::PolicyDeps;
use portcullis_store::{Actor, ApprovalStatus, CredentialSpec, Store};

#[derive(Args)]
pub(crate) struct KeysArgs {
    /// Configuration file whose `store` to use.
    #[arg(long, short, global = true, default_value = "portcullis.yaml")]
    config: PathBuf,
    /// Use this SQLite file instead of the config's store.
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key (and the app and developer if missing), associated with API
    /// products. The key is shown once.
    Create {
        /// App name.
        #[arg(long)]
        app: String,
        /// Developer e-mail owning the app.
        #[arg(long, default_value = "developer@example.com")]
        developer: String,
        /// Expire the key after this long (e.g. 90d).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
        /// API product the key may call (repeatable). Each association starts approved or
        /// pending, by the product's approval type. Without any, the key only works on APIs
        /// whose `verify-api-key` sets `require_product: false`.
        #[arg(long = "product", value_name = "NAME")]
        products: Vec<String>,
        /// Also print the consumer secret (the OAuth client secret issued with the key) on a
        /// second line. It is shown only now; only its hash is stored.
        #[arg(long)]
        with_secret: bool,
    },
    /// List keys (prefixes only; secrets are never stored).
    List {
        /// Only keys of this app (name or id).
        #[arg(long)]
        app: Option<String>,
    },
    /// Revoke a key by prefix or id.
    Revoke {
        /// Key prefix (e.g. pcl_AbCdEfGh) or id.
        key: String,
    },
}

async fn open(args: &KeysArgs) -> anyhow::Result<Arc<dyn Store>> {
    let spec = match &args.db {
        Some(p) => StoreSpec::Sqlite(p.clone()),
        None => {
            portcullis_config::load_file(&args.config, &PolicyDeps::default())
                .map_err(|e| anyhow::anyhow!("{}:\n{e}", args.config.display()))?
                .server
                .store
        }
    };
    let (store, _keyring) = portcullis_app::open_store(&spec, None)
        .await
        .with_context(|| format!("opening store {spec:?}"))?;
    Ok(store)
}

fn when(t: Option<SystemTime>) -> String {
    t.map_or_else(
        || "-".into(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    )
}

/// `name (status), ...`, or a hint when there are none.
fn describe(products: &[portcullis_store::ProductApproval]) -> String {
    if products.is_empty() {
        return "none (works only where require_product is false)".into();
    }
    let list: Vec<String> = products
        .iter()
        .map(|p| match p.status {
            ApprovalStatus::Approved => p.product.clone(),
            other => format!("{} ({other})", p.product),
        })
        .collect();
    list.join(", ")
}

pub(crate) async fn run(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args).await?;
    match args.command {
        KeysCommand::Create {
            app,
            developer,
            expires_in,
            products,
            with_secret,
        } => {
            let app = store.ensure_app(&developer, &app).await?;
            let spec = CredentialSpec {
                products,
                expires_at: expires_in.map(|d| SystemTime::now() + d),
            };
            let issued = store
                .create_credential(&Actor("cli".into()), &app.id, &spec)
                .await?;
            println!("{}", issued.consumer_key.expose());
            if with_secret {
                println!("{}", issued.consumer_secret.expose());
            }
            let record = &issued.credential.key;
            eprintln!(
                "created key {} for app '{}' ({}); expires {}; products: {}. Store the key now: it is shown only once.",
                record.prefix,
                record.app_name,
                record.developer_email,
                when(record.expires_at),
                describe(&issued.credential.products),
            );
        }
        KeysCommand::List { app } => {
            let keys = store.list_keys(app.as_deref()).await?;
            println!(
                "{:<14} {:<20} {:<28} {:<8} {:<21} EXPIRES",
                "PREFIX", "APP", "DEVELOPER", "STATUS", "CREATED"
            );
            for k in keys {
                println!(
                    "{:<14} {:<20} {:<28} {:<8} {:<21} {}",
                    k.prefix,
                    k.app_name,
                    k.developer_email,
                    k.status.as_str(),
                    when(Some(k.created_at)),
                    when(k.expires_at)
                );
            }
        }
        KeysCommand::Revoke { key } => {
            let record = store.revoke_key(&key).await?;
            println!("revoked {} (app '{}')", record.prefix, record.app_name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
