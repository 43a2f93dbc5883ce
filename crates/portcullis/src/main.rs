//! The `portcullis` command: a thin CLI over the library crates.

mod admin_cli;
mod admin_client;
mod apply_cli;
mod keys;
mod mgmt_cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use portcullis_app::ServeOptions;
use portcullis_policies::PolicyDeps;

/// mimalloc rather than glibc's malloc: a proxied request allocates and frees dozens of small
/// blocks (hyper's buffers, header maps, the log record), and mimalloc's per-thread free lists
/// do that in fewer instructions; measured in docs/benchmarks.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "API security gateway and API management platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Configuration file (YAML).
        #[arg(long, short)]
        config: PathBuf,
        /// Also start the built-in echo backend on this address (quick start, demos).
        #[arg(long)]
        demo_backend: Option<SocketAddr>,
        /// How often the config file is checked for changes (0 disables watching).
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        watch_interval: Duration,
    },
    /// Check a configuration file without running it: exit 0, or print every error with its
    /// field path and line and exit 1.
    Validate {
        /// Configuration file (YAML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the configuration file's JSON Schema (for editors).
    Schema,
    /// Manage API keys in the store.
    Keys(keys::KeysArgs),
    /// Bootstrap admin users and tokens directly in the store (the first admin of the API).
    Admin(admin_cli::AdminArgs),
    #[command(flatten)]
    Declarative(apply_cli::ApplyCommand),
    #[command(flatten)]
    Management(mgmt_cli::MgmtCommand),
    /// Run only the built-in echo backend.
    DemoBackend {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let workers = worker_threads();
    // One worker: a current-thread runtime skips the multi-thread scheduler's cross-thread
    // synchronisation, which is pure overhead when nothing can be stolen.
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `PORTCULLIS_WORKERS` or the number of CPUs.
fn worker_threads() -> usize {
    std::env::var("PORTCULLIS_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve {
            config,
            demo_backend,
            watch_interval,
        } => {
            if let Some(addr) = demo_backend {
                let bound = portcullis_app::demo::serve(addr).await?;
                tracing::info!(%bound, "demo backend listening");
            }
            portcullis_app::run(ServeOptions {
                config,
                watch_interval: (!watch_interval.is_zero()).then_some(watch_interval),
                access_log: None,
                keyring: None,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { config } => {
            match portcullis_config::load_file(&config, &PolicyDeps::default()) {
                Ok(snapshot) => {
                    println!(
                        "{}: OK ({} listeners, {} APIs)",
                        config.display(),
                        snapshot.server.listeners.len(),
                        snapshot.apis.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    for e in &errors.0 {
                        eprintln!("{}:{e}", config.display());
                    }
                    eprintln!("{} error(s)", errors.0.len());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&portcullis_config::editor_schema())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(args) => keys::run(args).await,
        Command::Admin(args) => admin_cli::run(args).await,
        Command::Declarative(command) => apply_cli::run(command).await,
        Command::Management(command) => mgmt_cli::run(command).await,
        Command::DemoBackend { listen } => {
            let bound = portcullis_app::demo::serve(listen).await?;
            println!("demo backend listening on {bound}");
            tokio::signal::ctrl_c().await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
