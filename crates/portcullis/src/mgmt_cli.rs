//! The common admin tasks as commands, all through the admin API (so they are authenticated,
//! authorized by role and audited like any other client): `developers create|list`,
//! `apps create|list`, `credentials create|approve|revoke|rotate`, `products list`.
//!
//! Each write prints what changed in the `apply` notation (`+ developer ann@example.com`,
//! `~ credential pcl_AbCd1234: gold approved`); a new credential's key and secret go to
//! standard output once, everything else to standard error.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

use crate::admin_client::{AdminClient, AdminUrl, query_escape as esc};

#[derive(Subcommand)]
pub(crate) enum MgmtCommand {
    /// Developers, through the admin API.
    Developers {
        #[command(subcommand)]
        command: DevelopersCommand,
        #[command(flatten)]
        admin: AdminUrl,
    },
    /// Apps, through the admin API.
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
        #[command(flatten)]
        admin: AdminUrl,
    },
    /// Credentials (consumer key + secret) and their product approvals, through the admin API.
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
        #[command(flatten)]
        admin: AdminUrl,
    },
    /// API products, through the admin API.
    Products {
        #[command(subcommand)]
        command: ProductsCommand,
        #[command(flatten)]
        admin: AdminUrl,
    },
}

#[derive(Subcommand)]
pub(crate) enum DevelopersCommand {
    /// Register a developer.
    Create {
        /// E-mail (unique, case-insensitive).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        attrs: Attrs,
    },
    /// List developers.
    List {
        /// Only developers with this status.
        #[arg(long, value_enum)]
        status: Option<DeveloperStatus>,
    },
}

#[derive(Subcommand)]
pub(crate) enum AppsCommand {
    /// Register an app for a developer.
    Create {
        /// The developer (e-mail or id).
        #[arg(long)]
        developer: String,
        /// App name (unique per developer).
        #[arg(long)]
        name: String,
        /// OAuth redirect URI (repeatable).
        #[arg(long = "callback-url")]
        callback_urls: Vec<String>,
        #[command(flatten)]
        attrs: Attrs,
    },
    /// List apps.
    List {
        /// Only this developer's apps (e-mail or id).
        #[arg(long)]
        developer: Option<String>,
        /// Only apps with this status.
        #[arg(long, value_enum)]
        status: Option<AppStatus>,
    },
}

#[derive(Subcommand)]
pub(crate) enum CredentialsCommand {
    /// Issue a consumer key and secret for an app; printed once.
    Create {
        /// The app id (`app_…`, see `portcullis apps list`).
        #[arg(long)]
        app: String,
        /// API product to associate (repeatable); approved or pending by its approval type.
        #[arg(long = "product")]
        products: Vec<String>,
        /// Expire the credential after this long (e.g. `90d`).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// Approve a product for a credential (associating it first if needed).
    Approve {
        /// Credential id or key prefix (`pcl_` + 8 characters).
        credential: String,
        /// Product name.
        #[arg(long)]
        product: String,
    },
    /// Revoke a credential, or only its approval for one product.
    Revoke {
        /// Credential id or key prefix.
        credential: String,
        /// Revoke only this product's approval.
        #[arg(long)]
        product: Option<String>,
    },
    /// Issue a new key and secret with the same products; the old ones keep working for the
    /// overlap.
    Rotate {
        /// Credential id or key prefix.
        credential: String,
        /// How long the old key keeps working (e.g. `30m`, `24h`, `7d`; default 24h).
        #[arg(long)]
        overlap: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum ProductsCommand {
    /// List API products.
    List,
}

/// `--attr KEY=VALUE` (repeatable).
#[derive(Args)]
pub(crate) struct Attrs {
    /// Custom attribute (repeatable).
    #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attr)]
    attrs: Vec<(String, String)>,
}

impl Attrs {
    fn json(&self) -> Value {
        let map: Map<String, Value> = self
            .attrs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Value::Object(map)
    }
}

fn parse_attr(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum DeveloperStatus {
    Active,
    Inactive,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum AppStatus {
    Approved,
    Revoked,
}

impl DeveloperStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeveloperStatus::Active => "active",
            DeveloperStatus::Inactive => "inactive",
        }
    }
}

impl AppStatus {
    fn as_str(self) -> &'static str {
        match self {
            AppStatus::Approved => "approved",
            AppStatus::Revoked => "revoked",
        }
    }
}

pub(crate) async fn run(command: MgmtCommand) -> anyhow::Result<ExitCode> {
    match command {
        MgmtCommand::Developers { command, admin } => {
            developers(&AdminClient::from_env(&admin)?, command).await
        }
        MgmtCommand::Apps { command, admin } => {
            apps(&AdminClient::from_env(&admin)?, command).await
        }
        MgmtCommand::Credentials { command, admin } => {
            credentials(&AdminClient::from_env(&admin)?, command).await
        }
        MgmtCommand::Products {
            command: ProductsCommand::List,
            admin,
        } => {
            let client = AdminClient::from_env(&admin)?;
            let rows = client.list_all("/admin/v1/products").await?;
            table(
                &[
                    "NAME",
                    "APPROVAL",
                    "ENVIRONMENTS",
                    "APIS",
                    "PATHS",
                    "METHODS",
                ],
                &rows,
                &[
                    "name",
                    "approval",
                    "environments",
                    "apis",
                    "paths",
                    "methods",
                ],
                "*",
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn developers(client: &AdminClient, command: DevelopersCommand) -> anyhow::Result<ExitCode> {
    match command {
        DevelopersCommand::Create { email, name, attrs } => {
            let body = json!({"email": email, "name": name, "attributes": attrs.json()});
            let dev: Value = client.post("/admin/v1/developers", &body).await?;
            println!("+ developer {} ({})", text(&dev, "email"), text(&dev, "id"));
        }
        DevelopersCommand::List { status } => {
            let filter = status.map_or(String::new(), |s| format!("?status={}", s.as_str()));
            let rows = client
                .list_all(&format!("/admin/v1/developers{filter}"))
                .await?;
            table(
                &["ID", "EMAIL", "NAME", "STATUS"],
                &rows,
                &["id", "email", "name", "status"],
                "-",
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn apps(client: &AdminClient, command: AppsCommand) -> anyhow::Result<ExitCode> {
    match command {
        AppsCommand::Create {
            developer,
            name,
            callback_urls,
            attrs,
        } => {
            let body =
                json!({"name": name, "callback_urls": callback_urls, "attributes": attrs.json()});
            let path = format!("/admin/v1/developers/{}/apps", esc(&developer));
            let app: Value = client.post(&path, &body).await?;
            println!(
                "+ app {developer}/{} ({})",
                text(&app, "name"),
                text(&app, "id")
            );
        }
        AppsCommand::List { developer, status } => {
            let mut query = Vec::new();
            if let Some(d) = developer {
                query.push(format!("developer={}", esc(&d)));
            }
            if let Some(s) = status {
                query.push(format!("status={}", s.as_str()));
            }
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            let rows = client.list_all(&format!("/admin/v1/apps{q}")).await?;
            table(
                &["ID", "DEVELOPER", "NAME", "STATUS", "CALLBACK URLS"],
                &rows,
                &["id", "developer_id", "name", "status", "callback_urls"],
                "-",
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn credentials(
    client: &AdminClient,
    command: CredentialsCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        CredentialsCommand::Create {
            app,
            products,
            expires_in,
        } => {
            let mut body = json!({"products": products});
            if let Some(d) = expires_in {
                let at = humantime::format_rfc3339_seconds(SystemTime::now() + d).to_string();
                body["expires_at"] = Value::String(at);
            }
            let path = format!("/admin/v1/apps/{}/credentials", esc(&app));
            let issued: Value = client.post(&path, &body).await?;
            print_issued(&issued, "+");
        }
        CredentialsCommand::Approve {
            credential,
            product,
        } => {
            let path = format!("/admin/v1/credentials/{}", esc(&credential));
            let current: Value = client.get(&path).await?;
            if approval(&current, &product).is_none() {
                let added: Value = client
                    .post(&format!("{path}/products"), &json!({"product": product}))
                    .await?;
                println!("+ credential {}: product {product}", text(&added, "prefix"));
                if approval(&added, &product).as_deref() == Some("approved") {
                    println!(
                        "~ credential {}: {product} approved",
                        text(&added, "prefix")
                    );
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let status_path = format!("{path}/products/{}/status", esc(&product));
            let updated: Value = client
                .post(&status_path, &json!({"status": "approved"}))
                .await?;
            println!(
                "~ credential {}: {product} approved",
                text(&updated, "prefix")
            );
        }
        CredentialsCommand::Revoke {
            credential,
            product,
        } => {
            let path = format!("/admin/v1/credentials/{}", esc(&credential));
            match product {
                Some(product) => {
                    let status_path = format!("{path}/products/{}/status", esc(&product));
                    let body = json!({"status": "revoked"});
                    let updated: Value = client.post(&status_path, &body).await?;
                    println!(
                        "~ credential {}: {product} revoked",
                        text(&updated, "prefix")
                    );
                }
                None => {
                    let updated: Value = client.post(&format!("{path}/revoke"), &json!({})).await?;
                    println!("~ credential {}: status revoked", text(&updated, "prefix"));
                }
            }
        }
        CredentialsCommand::Rotate {
            credential,
            overlap,
        } => {
            let path = format!("/admin/v1/credentials/{}/rotate", esc(&credential));
            let body = overlap.map_or_else(|| json!({}), |o| json!({"overlap": o}));
            let issued: Value = client.post(&path, &body).await?;
            eprintln!(
                "~ credential {credential}: rotated (the old key keeps working for the overlap)"
            );
            print_issued(&issued, "+");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The key and secret (standard output, once) and what was issued (standard error).
fn print_issued(issued: &Value, sign: &str) {
    let cred = &issued["credential"];
    let products: Vec<String> = cred["products"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| format!("{} ({})", text(p, "product"), text(p, "status")))
                .collect()
        })
        .unwrap_or_default();
    println!("consumer_key: {}", text(issued, "consumer_key"));
    println!("consumer_secret: {}", text(issued, "consumer_secret"));
    eprintln!(
        "{sign} credential {} for app {} of {}{}",
        text(cred, "prefix"),
        text(cred, "app_name"),
        text(cred, "developer_email"),
        if products.is_empty() {
            String::new()
        } else {
            format!("; products: {}", products.join(", "))
        },
    );
    eprintln!("The key and secret are shown only once: store them now.");
}

/// The status of `product`'s approval on a credential view, if associated.
fn approval(credential: &Value, product: &str) -> Option<String> {
    credential["products"]
        .as_array()?
        .iter()
        .find(|p| p["product"] == product)
        .map(|p| text(p, "status"))
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Prints `rows` as aligned columns; lists are joined with commas, an empty one shown as
/// `empty` (`*` where empty means "all", as in a product's lists).
fn table(headers: &[&str], rows: &[Value], keys: &[&str], empty: &str) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            keys.iter()
                .map(|k| match &row[*k] {
                    Value::Array(items) if items.is_empty() => empty.to_owned(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => text(row, k),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .fold(h.len(), usize::max)
        })
        .collect();
    let line = |items: Vec<&str>| {
        let padded: Vec<String> = items
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
}
