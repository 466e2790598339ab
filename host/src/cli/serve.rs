//! `kiln serve` and `kiln tenant`: the multi-tenant service and its tenants.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kiln::plugin::Sandbox;
use kiln::service::isolation::AllowedUrls;
use kiln::service::quotas::Quotas;
use kiln::service::tenants::{self, NewTenant, TenantChanges};
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
  GET  /v1/runs/ID/files/NAME       kept.jsonl, rejected.jsonl, quarantine.jsonl, stats.json, report.html
  POST /v1/runs/ID/resume           resume a run a spent quota paused, or one that waited for review
  GET  /v1/runs/ID/labels           the records reviewed in the console (JSONL)
  POST /v1/runs/ID/labels           label records: JSONL lines {\"id\": …, \"review\": \"accept\" or \"reject\"}
  GET  /v1/runs/ID/queue            the records still to review (those a `review` stage holds)
  GET  /v1/usage                    the tenant's quotas and today's usage
  /v1/admin/tenants[/NAME[/secrets/SECRET]]   tenants, quotas, secrets (admin tenants only)
  GET  /v1/openapi.json             all of it, as OpenAPI 3.1
Web console: /console (log in with the token). See docs/service.md.")]
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
    /// A URL prefix pipelines may name (repeat): a model server
    /// (`http://10.0.0.5:8000/v1`), a plugin registry (`oci://registry.internal/kiln`)
    /// or object-storage inputs (`s3://corpus/team-a`, `gs://…`, `az://…`, read with the service's credentials).
    /// Any other URL is refused at validation; none is allowed by default.
    #[arg(long = "allow-url", value_name = "PREFIX")]
    allow_urls: Vec<String>,
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
        #[arg(long, default_value_t = tenants::DEFAULT_WEIGHT)]
        weight: u32,
        /// Runs it may have running at once.
        #[arg(long, default_value_t = tenants::DEFAULT_MAX_RUNNING)]
        max_running: u32,
        /// Runs it may have waiting.
        #[arg(long, default_value_t = tenants::DEFAULT_MAX_QUEUED)]
        max_queued: u32,
        /// A quota, KEY=VALUE (repeat): plugin_memory_mib, plugin_call_ms,
        /// records_per_day, stage_seconds_per_day, run_seconds_per_day,
        /// tokens_per_day, disk_mib.
        #[arg(long = "quota", value_name = "KEY=VALUE")]
        quotas: Vec<String>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Change a tenant's weight, run counts or quotas (`--quota KEY=none` removes one).
    Set {
        /// Tenant name.
        name: String,
        /// Share of the workers when tenants compete.
        #[arg(long)]
        weight: Option<u32>,
        /// Runs it may have running at once.
        #[arg(long)]
        max_running: Option<u32>,
        /// Runs it may have waiting.
        #[arg(long)]
        max_queued: Option<u32>,
        /// A quota, KEY=VALUE or KEY=none (repeat).
        #[arg(long = "quota", value_name = "KEY=VALUE")]
        quotas: Vec<String>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// A tenant's secrets: the API keys its pipelines name by `api_key_env`.
    #[command(subcommand)]
    Secret(SecretCommand),
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

/// `kiln tenant secret`.
#[derive(Debug, clap::Subcommand)]
pub enum SecretCommand {
    /// Set a secret, its value read from standard input (never from the command line).
    Set {
        /// Tenant name.
        tenant: String,
        /// Secret name, as `api_key_env` names it (A-Z, 0-9, `_`).
        name: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// List a tenant's secrets by name (values are never shown).
    List {
        /// Tenant name.
        tenant: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Remove a secret.
    Rm {
        /// Tenant name.
        tenant: String,
        /// Secret name.
        name: String,
        #[command(flatten)]
        state: StateArgs,
    },
}

fn quotas(assignments: &[String], mut quotas: Quotas) -> anyhow::Result<Quotas> {
    for assignment in assignments {
        quotas.set(assignment)?;
    }
    Ok(quotas)
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
    let allowed_urls = AllowedUrls::parse(&args.allow_urls).map_err(anyhow::Error::msg).context("--allow-url")?;
    let config = ServiceConfig {
        data_dir: args.state.data_dir.clone(),
        database: args.state.database.clone(),
        workers,
        allowed_urls,
    };
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
            TenantCommand::Add { name, admin, weight, max_running, max_queued, quotas: assignments, state } => {
                let new = NewTenant {
                    name: name.clone(),
                    admin: *admin,
                    weight: *weight,
                    max_running: *max_running,
                    max_queued: *max_queued,
                    quotas: quotas(assignments, Quotas::default())?,
                };
                let db = open(state).await?;
                let token = db.add_tenant(&new).await?;
                eprintln!("kiln tenant add: `{name}` added; its token (shown only now):");
                println!("{token}");
            }
            TenantCommand::Set { name, weight, max_running, max_queued, quotas: assignments, state } => {
                let db = open(state).await?;
                let current = db.tenant(name).await?.with_context(|| format!("no tenant `{name}`"))?;
                let changes = TenantChanges {
                    weight: *weight,
                    max_running: *max_running,
                    max_queued: *max_queued,
                    quotas: Some(quotas(assignments, current.quotas)?),
                };
                let t = db.update_tenant(name, &changes).await?;
                eprintln!(
                    "kiln tenant set: `{name}`: weight {}, max_running {}, max_queued {}, quotas {}",
                    t.weight,
                    t.max_running,
                    t.max_queued,
                    serde_json::to_string(&t.quotas)?
                );
            }
            TenantCommand::Secret(command) => secret(command).await?,
            TenantCommand::List { state } => {
                let db = open(state).await?;
                println!(
                    "{:<24} {:>6} {:>12} {:>11} {:<8} quotas",
                    "tenant", "weight", "max_running", "max_queued", "state"
                );
                for t in db.tenants().await? {
                    let state = match (t.revoked_at, t.admin) {
                        (Some(_), _) => "revoked",
                        (None, true) => "admin",
                        (None, false) => "active",
                    };
                    let quotas = serde_json::to_string(&t.quotas)?;
                    println!(
                        "{:<24} {:>6} {:>12} {:>11} {state:<8} {quotas}",
                        t.name, t.weight, t.max_running, t.max_queued
                    );
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

/// `kiln tenant secret …`.
async fn secret(command: &SecretCommand) -> anyhow::Result<()> {
    match command {
        SecretCommand::Set { tenant, name, state } => {
            let mut value = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut value)
                .context("reading the secret from stdin")?;
            open(state).await?.set_secret(tenant, name, &value).await?;
            eprintln!(
                "kiln tenant secret set: `{tenant}` has secret `{name}` (pipelines name it by `api_key_env = \"{name}\"`)"
            );
        }
        SecretCommand::List { tenant, state } => {
            for name in open(state).await?.secret_names(tenant).await? {
                println!("{name}");
            }
        }
        SecretCommand::Rm { tenant, name, state } => {
            open(state).await?.delete_secret(tenant, name).await?;
            eprintln!("kiln tenant secret rm: `{tenant}`'s secret `{name}` removed");
        }
    }
    Ok(())
}
