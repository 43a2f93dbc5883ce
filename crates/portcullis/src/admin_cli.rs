//! `portcullis admin create-user|create-token`: bootstrap admin identities directly in the
//! store. The first admin cannot come from the admin API (every API call needs a token), so
//! it is created here, by whoever can read the store's configuration and master key.
//!
//! Passwords are never taken as arguments (they would end up in shell history and `ps`): they
//! come from standard input (first line) or from an environment variable named with
//! `--password-env`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use portcullis_config::StoreSpec;
use portcullis_policies::PolicyDeps;
use portcullis_store::{Actor, AdminRole, Store};

#[derive(Args)]
pub(crate) struct AdminArgs {
    /// Configuration file whose `store` to use.
    #[arg(long, short, global = true, default_value = "portcullis.yaml")]
    config: PathBuf,
    /// Use this SQLite file instead of the config's store.
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin user. The password is read from standard input (first line) unless
    /// `--password-env` names a variable holding it; at least 12 characters.
    CreateUser {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Role.
        #[arg(long, value_enum)]
        role: Role,
        /// Read the password from this environment variable instead of standard input.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Issue an API token for an existing admin user; the token is printed once.
    CreateToken {
        /// The user (username or id).
        #[arg(long)]
        username: String,
        /// Token label.
        #[arg(long)]
        name: String,
        /// Role of the token (at most the user's; default: the user's).
        #[arg(long, value_enum)]
        role: Option<Role>,
        /// Expire the token after this long (e.g. 30d).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Role {
    Admin,
    Operator,
    ReadOnly,
}

impl From<Role> for AdminRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => AdminRole::Admin,
            Role::Operator => AdminRole::Operator,
            Role::ReadOnly => AdminRole::ReadOnly,
        }
    }
}

async fn open(args: &AdminArgs) -> anyhow::Result<Arc<dyn Store>> {
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

/// The password from `$VAR`, or the first line of `input`.
fn read_password(var: Option<&str>, input: &mut dyn BufRead) -> anyhow::Result<String> {
    if let Some(var) = var {
        return std::env::var(var)
            .with_context(|| format!("environment variable {var} is not set"));
    }
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}

pub(crate) async fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    run_with_input(args, &mut std::io::stdin().lock()).await
}

async fn run_with_input(args: AdminArgs, input: &mut dyn BufRead) -> anyhow::Result<ExitCode> {
    let store = open(&args).await?;
    let actor = Actor("cli".into());
    match args.command {
        AdminCommand::CreateUser {
            username,
            role,
            password_env,
        } => {
            let password = read_password(password_env.as_deref(), input)?;
            let user = store
                .create_admin_user(&actor, &username, &password, role.into())
                .await?;
            println!("{}", user.id);
            eprintln!("created admin user {} ({})", user.username, user.role);
        }
        AdminCommand::CreateToken {
            username,
            name,
            role,
            expires_in,
        } => {
            let user = store.get_admin_user(&username).await?;
            let role = role.map_or(user.role, AdminRole::from);
            let expires = expires_in.map(|d| SystemTime::now() + d);
            let (token, secret) = store
                .create_admin_token(&actor, &user.id, &name, role, expires)
                .await?;
            println!("{}", secret.expose());
            eprintln!(
                "created token {} ({}) for {}. Store it now: it is shown only once.",
                token.prefix, token.role, user.username
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        admin: AdminArgs,
    }

    fn args(db: &std::path::Path, rest: &[&str]) -> AdminArgs {
        let mut argv = vec!["portcullis", "--db", db.to_str().unwrap()];
        argv.extend_from_slice(rest);
        Cli::parse_from(argv).admin
    }

    #[tokio::test]
    async fn bootstraps_an_admin_who_can_log_in_and_a_token_that_authenticates() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("portcullis.db");
        let mut stdin = std::io::Cursor::new(b"a long enough password\nignored\n".to_vec());
        let a = args(
            &db,
            &["create-user", "--username", "root", "--role", "admin"],
        );
        run_with_input(a, &mut stdin).await.unwrap();
        let a = args(
            &db,
            &[
                "create-user",
                "--username",
                "ops",
                "--role",
                "operator",
                "--password-env",
                "PORTCULLIS_TEST_ADMIN_CLI_PW",
            ],
        );
        assert!(
            run_with_input(a, &mut std::io::empty()).await.is_err(),
            "unset variable"
        );

        let a = args(
            &db,
            &[
                "create-token",
                "--username",
                "root",
                "--name",
                "ci",
                "--role",
                "operator",
            ],
        );
        run_with_input(a, &mut std::io::empty()).await.unwrap();

        let store = open(&args(
            &db,
            &["create-token", "--username", "x", "--name", "y"],
        ))
        .await
        .unwrap();
        let user = store.get_admin_user("root").await.unwrap();
        assert_eq!(user.role, AdminRole::Admin);
        let tokens = store.list_admin_tokens(Some(&user.id)).await.unwrap();
        assert!(
            tokens
                .iter()
                .any(|t| t.name == "ci" && t.role == AdminRole::Operator && !t.session)
        );
        let (token, secret) = store
            .login(
                "root",
                "a long enough password",
                None,
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert!(token.session);
        let principal = store
            .authenticate_admin_token(secret.expose())
            .await
            .unwrap();
        assert_eq!(principal.user.username, "root");
        // Too short a password is refused by the store's policy, and nothing is created.
        let mut short = std::io::Cursor::new(b"short\n".to_vec());
        let a = args(
            &db,
            &["create-user", "--username", "weak", "--role", "read-only"],
        );
        assert!(run_with_input(a, &mut short).await.is_err());
        assert!(store.get_admin_user("weak").await.is_err());
    }

    #[test]
    fn passwords_come_from_the_first_line_or_the_named_variable() {
        let mut input = std::io::Cursor::new(b"pw with spaces \r\nsecond\n".to_vec());
        assert_eq!(read_password(None, &mut input).unwrap(), "pw with spaces ");
        assert!(read_password(None, &mut std::io::empty()).is_err());
        assert!(
            read_password(
                Some("PORTCULLIS_TEST_UNSET_VARIABLE_X"),
                &mut std::io::empty()
            )
            .is_err()
        );
    }
}
