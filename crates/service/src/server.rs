//! `taskforce serve`: opens (and migrates) the database, binds, serves until Ctrl-C or
//! SIGTERM, then stops accepting and lets requests in flight finish.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::api::AppState;
use crate::config::Config;
use crate::db::{Db, redact};

/// Builds the whole application from the service's state: the API alone ([`router`]), or the
/// API with the web pages (`taskforce_web::app`, wired in by the binary).
pub type AppBuilder = Box<dyn FnOnce(AppState) -> axum::Router + Send>;

/// Serves on an already bound listener until `shutdown` completes.
pub async fn serve_on(
    listener: TcpListener,
    db: Db,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_app_on(listener, db, config, Box::new(crate::api::router), shutdown).await
}

/// [`serve_on`] with the application built by `build`.
pub async fn serve_app_on(
    listener: TcpListener,
    db: Db,
    config: Config,
    build: AppBuilder,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = build(AppState { db: db.clone(), config: Arc::new(config) });
    // Jobs a stopped server left unfinished run again (the router turned background jobs on).
    crate::jobs::resume(&db).await?;
    // With each connection's peer address (the pages throttle failed logins per address).
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving")?;
    // What group commit did (a plain line, like "listening on", for scripts and benchmarks).
    let w = db.writer.stats();
    eprintln!(
        "database writer: {} writes in {} groups (largest {}), {} failed, {} refused",
        w.writes, w.groups, w.largest_group, w.failed, w.refused
    );
    db.pool.close().await;
    Ok(())
}

/// The whole command: database, listener, signals.
pub async fn run(config: Config) -> Result<()> {
    run_app(config, Box::new(crate::api::router)).await
}

/// [`run`] with the application built by `build` (the binary passes the API plus the pages).
pub async fn run_app(config: Config, build: AppBuilder) -> Result<()> {
    let mut db = Db::connect(&config.database).await?;
    db.line_detail_days = config.line_detail_days;
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening on a non-loopback address: put TLS in front of this service");
    }
    tracing::info!(%addr, database = %redact(&config.database), "taskforce serve listening");
    // A plain line too, for scripts and tests that wait for the port.
    eprintln!("listening on http://{addr}");
    serve_app_on(listener, db, config, build, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
