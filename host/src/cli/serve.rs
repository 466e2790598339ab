//! `kiln serve` and `kiln tenant`: the multi-tenant service and its tenants.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kiln::plugin::Sandbox;
use kiln::service::tenants::NewTenant;
use kiln::service::{Db, Service, ServiceConfig, api};

/// Where the service keeps its state, shared by `serve` and `tenant`.
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// The service's data directory: tenants' runs, and the SQLite database.
    #[arg(long, env = "KILN_DATA_DIR", default_value = "kiln-data")]
    data_dir: PathBuf,
    /// A PostgreSQL (`postgres://…`) or SQLite (`sqlite://…`) URL instead of
    /// DATA_DIR/kiln.db.
    #[arg(long, env = "KILN_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
}

/// Arguments of `kiln serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
API (every route but /healthz needs `Authorization: Bearer TOKEN`):
  POST /v1/runs                     multipart: `pipeline` (the TOML) and the files it names
  GET  /v1/runs                     the tenant's runs
  GET  /v1/runs/ID                  one run
  POST /v1/runs/ID/cancel           cancel it
  GET  /v1/runs/ID/events           progress (Server-Sent Events)
  GET  /v1/runs/ID/files/NAME       kept.jsonl, rejected.jsonl, quarantine.jsonl, stats.json, report.html")]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Runs executed at once, across all tenants (default: the number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Largest request body accepted, in MiB (a pipeline and its uploads).
    #[arg(long, default_value_t = 64)]
    max_body_mib: usize,
    #[command(flatten)]
    state: StateArgs,
}

/// `kiln tenant`.
#[derive(Debug, clap::Subcommand)]
pub enum TenantCommand {
    /// Add a tenant and print its token (shown this once; only its hash is kept).
    Add {
        /// Tenant name (a-z, 0-9, `-`).
        name: String,
        /// May administer the service.
        #[arg(long)]
        admin: bool,
        /// Share of the workers when tenants compete.
        #[arg(long, default_value_t = 1)]
        weight: u32,
        /// Runs it may have running at once.
        #[arg(long, default_value_t = 2)]
        max_running: u32,
        /// Runs it may have waiting.
        #[arg(long, default_value_t = 100)]
        max_queued: u32,
        #[command(flatten)]
        state: StateArgs,
    },
    /// List tenants and their quotas (never their tokens).
    List {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Revoke a tenant's token.
    Revoke {
        /// Tenant name.
        name: String,
        #[command(flatten)]
        state: StateArgs,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

async fn open(state: &StateArgs) -> anyhow::Result<Db> {
    Db::open(state.database.as_deref(), &state.data_dir).await.context("opening the service's database")
}

/// `kiln serve`.
pub fn serve(sandbox: Sandbox, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let config =
        ServiceConfig { data_dir: args.state.data_dir.clone(), database: args.state.database.clone(), workers };
    runtime()?.block_on(async {
        let service = Service::start(config, sandbox).await.context("starting the service")?;
        let listener =
            tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("listening on {}", args.addr))?;
        let local = listener.local_addr().context("the listening address")?;
        eprintln!(
            "kiln serve: listening on http://{local} ({workers} worker(s), data in {})",
            args.state.data_dir.display()
        );
        let app = api::router(service, args.max_body_mib << 20);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `kiln tenant …`.
pub fn tenant(command: &TenantCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match command {
            TenantCommand::Add { name, admin, weight, max_running, max_queued, state } => {
                let db = open(state).await?;
                let new = NewTenant {
                    name: name.clone(),
                    admin: *admin,
                    weight: *weight,
                    max_running: *max_running,
                    max_queued: *max_queued,
                };
                let token = db.add_tenant(&new).await?;
                eprintln!("kiln tenant add: `{name}` added; its token (shown only now):");
                println!("{token}");
            }
            TenantCommand::List { state } => {
                let db = open(state).await?;
                println!("{:<24} {:>6} {:>12} {:>11} state", "tenant", "weight", "max_running", "max_queued");
                for t in db.tenants().await? {
                    let state = match (t.revoked_at, t.admin) {
                        (Some(_), _) => "revoked",
                        (None, true) => "admin",
                        (None, false) => "active",
                    };
                    println!("{:<24} {:>6} {:>12} {:>11} {state}", t.name, t.weight, t.max_running, t.max_queued);
                }
            }
            TenantCommand::Revoke { name, state } => {
                open(state).await?.revoke_tenant(name).await?;
                eprintln!("kiln tenant revoke: `{name}`'s token no longer works");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
