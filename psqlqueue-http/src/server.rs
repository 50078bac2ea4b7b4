//! Serving: the API (HTTP/1.1, with a header read timeout that runs from a connection's first
//! moment, a body read deadline from the headers' end (`body_deadline`, applied by
//! `limits::enforce`), a cap on open connections, back-off on accept errors and graceful
//! shutdown), the metrics server, the sweeper of expired messages and the dashboard's sampler.

use crate::app::{app, metrics_app};
use crate::auth::{Auth, AuthMode};
use crate::batch::Batcher;
use crate::config::ServerArgs;
use crate::db;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::startup::StartupError;
use crate::state::AppState;
use crate::sweeper;
use crate::ui::{self, Samples};
use crate::wakeups::{self, Wakeups};
use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceBuilder;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(30);
/// A connection's read buffer, which bounds a request's headers: hyper answers 431 when they
/// have not ended by the time it is full (it reads in growing steps, so headers between this
/// and twice this may still pass). Its default, about 400 KiB, let each of thousands of
/// connections hold that much. Bodies stream through it in pieces; their own limit is
/// PSQLQUEUE_SERVER_MAX_BODY_BYTES.
const MAX_HEADER_BYTES: usize = 32 * 1024;
/// The pause after a failed accept (out of file descriptors, say), so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Runs both servers, the sweeper and the dashboard's sampler until SIGINT or SIGTERM, then
/// drains requests, lets the sweeper finish its batch, stops the sampler and closes the pool.
pub(crate) async fn run(args: ServerArgs) -> Result<(), StartupError> {
    // Settings first: a bad combination stops the server before it touches the database.
    let body_timeout = args.body_timeout()?;
    let db = db::connect(&args.database).await?;
    let metrics = Arc::new(Metrics::new().map_err(StartupError::Metrics)?);
    let wakeups = Arc::new(Wakeups::default());
    let batcher = Batcher::new(db.clone(), Arc::clone(&metrics), &args.batch);
    let samples = Arc::new(Samples::new(args.ui_sample_seconds));
    let state = AppState {
        db: db.clone(),
        max_messages: args.queue_max_number_of_messages,
        metrics: Arc::clone(&metrics),
        wakeups: Arc::clone(&wakeups),
        auth: Arc::new(Auth::new(
            args.auth,
            Duration::from_secs(args.auth_cache_seconds),
            db.clone(),
        )),
        batcher: batcher.clone(),
        samples: Arc::clone(&samples),
    };
    if !loopback(&args.metrics_host) {
        tracing::warn!(
            host = %args.metrics_host,
            "the metrics server listens beyond loopback and needs no token: its labels name every \
             queue (set PSQLQUEUE_METRICS_HOST=127.0.0.1 unless this network is private)"
        );
    }
    if args.auth == AuthMode::None && !loopback(&args.server_host) {
        tracing::warn!(
            host = %args.server_host,
            "PSQLQUEUE_AUTH=none and the API listens beyond loopback: anyone who reaches it may \
             read, purge or delete any queue (set PSQLQUEUE_AUTH=token, see the README)"
        );
    }
    let api_listener = bind(&args.server_host, args.server_port).await?;
    let metrics_listener = bind(&args.metrics_host, args.metrics_port).await?;
    tracing::info!(host = %args.server_host, port = args.server_port, "http server starting");
    tracing::info!(host = %args.metrics_host, port = args.metrics_port, "metrics server starting");

    let (stop, stopped) = watch::channel(false);
    let sweeper = sweeper::spawn(db.pool().clone(), metrics, &args.sweep, stopped.clone());
    let listener = wakeups::spawn_listener(db.config().clone(), wakeups, stopped.clone());
    let sampler = ui::spawn(db.pool().clone(), samples, stopped.clone());
    let metrics_server = {
        let mut stopped = stopped.clone();
        let router = metrics_app(state.clone());
        tokio::spawn(async move {
            axum::serve(metrics_listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.changed().await;
                })
                .await
        })
    };
    let limits = Limits::new(
        args.server_max_concurrent_requests,
        Duration::from_secs(args.server_request_timeout_seconds),
        body_timeout,
    );
    let api_server = tokio::spawn(serve_api(
        api_listener,
        app(
            state,
            args.server_max_body_bytes,
            limits,
            args.sqs_region.clone(),
        ),
        Connections {
            header_timeout: Duration::from_secs(args.server_read_header_timeout_seconds),
            max_open: args.server_max_connections as usize,
        },
        stopped,
    ));

    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop.send(true);
    let _ = api_server.await;
    // Requests whose client left before their answer may still be in a batch: written (or
    // refused) before the pool closes. Bounded anyway: a statement has its own timeout.
    if tokio::time::timeout(DRAIN, batcher.drain()).await.is_err() {
        tracing::warn!("batches still running after the drain period");
    }
    let _ = metrics_server.await;
    if let Some(sweeper) = sweeper {
        let _ = sweeper.await;
    }
    let _ = listener.await;
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }
    db.close();
    tracing::info!("stopped");
    Ok(())
}

/// Whether `host` (an address or a name) only reaches this machine.
fn loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn bind(host: &str, port: u16) -> Result<TcpListener, StartupError> {
    TcpListener::bind((host, port))
        .await
        .map_err(|source| StartupError::Bind {
            host: host.to_owned(),
            port,
            source,
        })
}

/// How client connections are held.
struct Connections {
    /// From a connection's first moment (and after each response) to the end of the next
    /// request's headers: silent and idle connections are closed after this long.
    header_timeout: Duration,
    /// Open connections at most; beyond, new ones wait in the kernel's listen backlog.
    max_open: usize,
}

/// Accepts connections until told to stop, then waits (at most [`DRAIN`]) for the open ones.
///
/// HTTP/1.1 only: hyper's protocol auto-detection reads a connection's first bytes before the
/// header timeout is armed, so a client that sends nothing would be held forever.
async fn serve_api(
    listener: TcpListener,
    router: Router,
    connections: Connections,
    mut stopped: watch::Receiver<bool>,
) {
    let service = ServiceBuilder::new()
        .map_request(trim_trailing_slash::<Incoming>)
        .service(router);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(connections.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    let open = Arc::new(Semaphore::new(connections.max_open));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stopped.changed() => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed; pausing");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service.clone()));
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(permit);
                });
            }
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the drain period; closing them");
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}

/// Drops a trailing slash (`/v1/queues/q/messages/?limit=1` is the walkthrough's own call),
/// except under the Swagger UI, whose directory URL needs it.
pub(crate) fn trim_trailing_slash<B>(mut request: Request<B>) -> Request<B> {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/v1/swagger") {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rewritten = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rewritten.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}
