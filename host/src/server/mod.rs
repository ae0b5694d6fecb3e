//! `tenon serve`: one process that runs flows on their schedules and answers
//! health, readiness, metrics and the admin API over HTTP, until SIGTERM or
//! Ctrl-C. Owns the process's life: start-up, the order of shutdown, the exit.
//!
//! # Layout
//! | module | owns |
//! |---|---|
//! | [`config`] | the TOML file and flags, their defaults and checks |
//! | [`schedule`] | the scheduler: timetable, jitter, concurrency limits, run-now |
//! | [`metrics`] | counters and the Prometheus text exposition |
//! | [`http`] | route composition, error answers, run-now |
//! | [`api`] | the admin API's handlers: plugins, tenants, enablements, flows, runs, dead letters, audit |
//! | [`auth`] | bearer tokens, roles, what a tenant token may reach |
//! | [`openapi`] | the OpenAPI document of every route |
//! | [`webhook`] | webhook ingress, `POST /hooks/{tenant}/{plugin}`: no token, the plugin verifies |
//!
//! # Shutdown
//! On SIGTERM or Ctrl-C: `/readyz` answers 503, the scheduler starts nothing
//! new, and running runs stop after the batch in progress has committed (their
//! run records say `interrupted`, the cursors stay where they got to). When they
//! have all ended, the listener closes, the state is flushed, and the process
//! exits 0. Runs still going after `shutdown_grace`, or at a second signal, are
//! abandoned (exit 1), as after a crash: the next start marks them interrupted, and idempotency keys
//! make the repeat of their last batch harmless.

pub mod api;
pub mod auth;
pub mod config;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod schedule;
pub mod webhook;

use crate::Tenon;
use crate::flow::format_duration;
use anyhow::Context as _;
use config::ServeConfig;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// Runs the server on the data folder until a stop signal, then shuts down.
pub async fn run(
    data: &Path,
    options: crate::host::Options,
    config: ServeConfig,
) -> crate::Result<()> {
    let tokens = auth::Tokens::new(config.token_secrets()?);
    if config.tokens.is_empty() {
        tracing::warn!("No [[token]] configured: the admin API refuses every request");
    }
    let mut signals = StopSignals::listen()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let addr = listener
        .local_addr()
        .context("could not read the listen address")?;
    let tenon = Tenon::open_with(data, options)?;
    // No plugin reaches the admin API, whatever its grants.
    tenon.refuse_egress_to(addr);

    let metrics = Arc::new(metrics::Metrics::default());
    let scheduler = schedule::Scheduler::new(
        tenon.clone(),
        config.scheduler.clone(),
        Arc::clone(&metrics),
    );
    let ready = Arc::new(AtomicBool::new(false));
    let app_state = http::App {
        scheduler: Arc::clone(&scheduler),
        metrics,
        ready: Arc::clone(&ready),
        tokens,
        ingress: Arc::default(),
    };
    let (metrics_listening, metrics_note) = match config.metrics_listen {
        Some(metrics_addr) => {
            let listener = tokio::net::TcpListener::bind(metrics_addr)
                .await
                .with_context(|| format!("could not listen on {metrics_addr} for metrics"))?;
            let bound = listener
                .local_addr()
                .context("could not read the metrics address")?;
            tenon.refuse_egress_to(bound);
            let serving = tokio::spawn(
                axum::serve(listener, http::metrics_router(app_state.clone())).into_future(),
            );
            (
                Some(serving),
                format!("; metrics without a token on http://{bound}/metrics"),
            )
        }
        None => (None, String::new()),
    };
    let app = http::router(app_state);
    let close = CancellationToken::new();
    let listening = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(close.clone().cancelled_owned())
            .into_future(),
    );
    let ticking = tokio::spawn(Arc::clone(&scheduler).tick_loop());
    let watching = tokio::spawn(watch_storage(tenon.clone()));
    ready.store(true, Ordering::SeqCst);
    // A server whose standard output was closed keeps serving.
    let _ = writeln!(
        std::io::stdout(),
        "Tenon serving on http://{addr} (/healthz, /readyz, /metrics, /api/v1/){metrics_note}; stop with SIGTERM or Ctrl-C."
    );
    tracing::info!(%addr, data = %data.display(), "Server ready");

    let signal = signals.next().await;
    tracing::info!(
        signal,
        running = scheduler.running().len(),
        "Shutting down: no new runs; running runs stop after their batch in progress"
    );
    ready.store(false, Ordering::SeqCst);
    scheduler.stop();
    let grace = config.scheduler.shutdown_grace;
    let drained = tokio::select! {
        waited = tokio::time::timeout(grace, scheduler.wait()) => waited.is_ok(),
        signal = signals.next() => {
            tracing::warn!(signal, "Second stop signal: not waiting for running runs");
            false
        }
    };
    let _ = ticking.await;
    watching.abort();
    if drained {
        // Lets requests in flight finish (a run-now waiting for its run has it).
        close.cancel();
        match listening.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "The HTTP listener stopped with an error"),
            Err(error) => tracing::warn!(%error, "The HTTP listener task failed"),
        }
    } else {
        listening.abort();
    }
    if let Some(metrics) = metrics_listening {
        metrics.abort();
    }
    tenon.flush()?;
    if !drained {
        let running: Vec<String> = scheduler
            .running()
            .into_iter()
            .map(|(tenant, flow)| format!("{tenant}/{flow}"))
            .collect();
        return Err(anyhow::anyhow!(
            "stopped with runs in progress ({}) after the shutdown grace of {} or a second signal; the next start marks them interrupted",
            running.join(", "),
            format_duration(grace)
        )
        .into());
    }
    tracing::info!("Server stopped");
    Ok(())
}

/// Checks every second that the state takes writes, and opens it again after
/// a failure (a full disk) once it can: meanwhile `/readyz` answers 503,
/// webhooks 503 and the scheduler starts nothing.
async fn watch_storage(tenon: Tenon) {
    let mut failing = false;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let probe = tenon.clone();
        let failure = tokio::task::spawn_blocking(move || probe.check_storage())
            .await
            .unwrap_or_else(|e| Some(format!("the storage check failed: {e}")));
        match (&failure, failing) {
            (Some(cause), false) => {
                tracing::error!(%cause, "Not ready: the state cannot be written");
            }
            // At the level of the failure, so that whoever saw it sees this.
            (None, true) => tracing::warn!("Ready again: the state takes writes"),
            _ => {}
        }
        failing = failure.is_some();
    }
}

/// SIGTERM and Ctrl-C (SIGINT), listened for from creation on, so that a signal
/// is never met by the default action.
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> anyhow::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            terminate: signal(SignalKind::terminate()).context("could not listen for SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("could not listen for Ctrl-C")?,
        })
    }

    /// Waits for the next signal and says which came.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
