//! `scheduler serve`: the HTTP API (and, with the runner issue, the runner) until SIGTERM.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clap::{Args, ValueEnum};
use scheduler_api::{ApiConfig, AppState};
use scheduler_store::PgPool;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::cli::DbArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// The HTTP API.
    Api,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// What this process runs.
    #[arg(long, env = "ROLE", value_enum, default_value_t = Role::Api)]
    pub role: Role,
    /// Address the HTTP server listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Token the `/admin/...` routes require in `x-admin-token`; without it they are off.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT before the process exits.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_timeout_secs: u64,
    /// Apply pending migrations before serving.
    #[arg(long, env = "MIGRATE_ON_START", default_value_t = false)]
    pub migrate: bool,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(token) = &args.admin_token {
        anyhow::ensure!(
            token.len() >= 16,
            "ADMIN_TOKEN must be at least 16 characters"
        );
    }
    let pool = scheduler_store::connect(&args.db.database_url, &args.db.pool_config())
        .await
        .context("cannot connect to DATABASE_URL")?;
    if args.migrate {
        scheduler_store::migrate(&pool).await?;
    }
    let shutdown = CancellationToken::new();
    spawn_signal_watcher(shutdown.clone());

    let config = ApiConfig {
        admin_token: args.admin_token.map(SecretString::from),
        ..ApiConfig::default()
    };
    let app = scheduler_api::router(AppState::new(pool.clone(), config)).merge(ops_routes(pool));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(addr = %listener.local_addr()?, role = ?args.role, "serving");

    let server = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    let deadline = Duration::from_secs(args.shutdown_timeout_secs);
    tokio::select! {
        result = server => result.context("http server")?,
        () = async { shutdown.cancelled().await; tokio::time::sleep(deadline).await } => {
            tracing::warn!(?deadline, "shutdown deadline reached with requests still in flight");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Cancels `token` on SIGTERM or SIGINT.
fn spawn_signal_watcher(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot watch SIGTERM");
                        let _ = ctrl_c.await;
                        token.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
}

/// Liveness and readiness, outside the API's tenant routes.
fn ops_routes(pool: PgPool) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .with_state(pool)
}

async fn readyz(State(pool): State<PgPool>) -> (StatusCode, Json<serde_json::Value>) {
    let check = tokio::time::timeout(Duration::from_secs(2), scheduler_store::ping(&pool)).await;
    if matches!(check, Ok(true)) {
        (StatusCode::OK, Json(serde_json::json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"message": "database unreachable"})),
        )
    }
}
