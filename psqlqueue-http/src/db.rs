//! The database: the connection pool, the one-statement query helpers every handler uses,
//! the health check's own connection, and `migrate`.
//!
//! Every wait is bounded: for a pooled connection (`PSQLQUEUE_DATABASE_POOL_TIMEOUT_SECONDS`),
//! for a new one (`..._CONNECT_TIMEOUT_SECONDS`), and in the database for a statement and for a
//! lock (`statement_timeout` and `lock_timeout`, set on every session the sidecar opens). A
//! statement whose request is dropped (timed out, or the client went away) is cancelled.

use crate::config::DatabaseArgs;
use crate::error::ApiError;
use crate::models::{Page, PageParams};
use crate::startup::StartupError;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Status};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{CancelToken, NoTls, Row};

/// How long the health check may take in all, whatever the pool's state.
const HEALTH_BUDGET: Duration = Duration::from_millis(1500);

/// The pool, with the helpers that run one statement on a pooled connection.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    pool: Pool,
    /// How to connect, for connections of its own (long polling's LISTEN). Shared: the state
    /// is cloned for every request, and a deep copy of the config was a measurable part of a
    /// request's cost once sends were batched.
    config: Arc<tokio_postgres::Config>,
    /// One connection of its own for the health check, so a saturated pool cannot delay it.
    health: Pool,
}

/// A statement in flight on a pooled connection. Dropped before [`CancelOnDrop::disarm`] (its
/// request timed out, its client went away, or every client of a batch left), it cancels the
/// statement and keeps the connection from serving anyone else until the cancel has landed: a
/// cancel reaches its backend on a connection of its own, some time later, and on a connection
/// already back in the pool it could stop whatever statement the next request runs there.
pub(crate) struct CancelOnDrop(Option<(CancelToken, Arc<Object>)>);

impl CancelOnDrop {
    /// Armed over `client`, the connection the statement runs on (the caller keeps its own
    /// handle for the statement; both go when the request's future is dropped).
    pub(crate) fn new(client: &Arc<Object>) -> CancelOnDrop {
        CancelOnDrop(Some((client.cancel_token(), Arc::clone(client))))
    }

    /// The statement was answered: the connection goes back to the pool as usual.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

/// Runs `sql` (prepared once per connection) on a pooled connection under a [`CancelOnDrop`]
/// guard: the one way a statement is run for a request or a batch that may be dropped.
pub(crate) async fn query_guarded(
    client: Object,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let client = Arc::new(client);
    let statement = client.prepare_cached(sql).await?;
    let guard = CancelOnDrop::new(&client);
    let rows = client.query(&statement, params).await;
    guard.disarm();
    rows
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some((token, client)) = self.0.take() {
            tokio::spawn(async move {
                let _ = token.cancel_query(NoTls).await;
                // The cancel was delivered before this is sent, so the backend has taken it
                // by the time this is answered (stopping the statement, or ignored while
                // idle), and any transaction the connection was in is over. This handle
                // keeps the connection out of the pool until then.
                let _ = client.batch_execute("ROLLBACK").await;
                // Closed rather than reused when this is the last handle, as it is in
                // practice (the caller's went with its future): a connection whose request
                // was abandoned mid-statement is not worth keeping. Otherwise it goes back to
                // the pool with the caller's handle, safely: the cancel has landed.
                if let Ok(object) = Arc::try_unwrap(client) {
                    drop(Object::take(object));
                }
            });
        }
    }
}

impl Db {
    /// The pool itself, for work that holds one connection across statements (the sweeper).
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// How this database is reached, with the sidecar's session limits.
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The pool's size, idle connections and waiters, for the metrics.
    pub(crate) fn status(&self) -> Status {
        self.pool.status()
    }

    /// Closes the pool: connections in use close when they are returned.
    pub(crate) fn close(&self) {
        self.pool.close();
    }

    /// Runs one statement (prepared once per connection) and returns its rows.
    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ApiError> {
        let client = self.pool.get().await?;
        Ok(query_guarded(client, sql, params).await?)
    }

    /// Runs one statement that returns exactly one row.
    pub(crate) async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, ApiError> {
        let client = Arc::new(self.pool.get().await?);
        let statement = client.prepare_cached(sql).await?;
        let guard = CancelOnDrop::new(&client);
        let row = client.query_one(&statement, params).await;
        guard.disarm();
        Ok(row?)
    }

    /// Whether the database answers `SELECT 1` on the health check's own connection within
    /// [`HEALTH_BUDGET`]; the error says why not.
    pub(crate) async fn check_health(&self) -> Result<(), String> {
        let check = async {
            let client = self.health.get().await.map_err(|e| e.to_string())?;
            client
                .simple_query("SELECT 1")
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(HEALTH_BUDGET, check).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {HEALTH_BUDGET:?}")),
        }
    }

    /// Runs a list function (`$1` offset, `$2` limit) for one page, defaults applied.
    pub(crate) async fn page<T: for<'r> From<&'r Row>>(
        &self,
        sql: &str,
        params: &PageParams,
    ) -> Result<Page<T>, ApiError> {
        let (offset, limit) = params.resolve();
        let rows = self.query(sql, &[&offset, &limit]).await?;
        Ok(Page {
            data: rows.iter().map(T::from).collect(),
            offset,
            limit,
        })
    }
}

/// Builds the pool and opens `database_min_conns` connections, so the first requests do not
/// pay for connecting and a wrong URL fails at start-up.
pub(crate) async fn connect(args: &DatabaseArgs) -> Result<Db, StartupError> {
    if args.database_min_conns > args.database_max_conns {
        return Err(StartupError::PoolSizes {
            min: args.database_min_conns,
            max: args.database_max_conns,
        });
    }
    let mut config =
        tokio_postgres::Config::from_str(&args.database_url).map_err(StartupError::DatabaseUrl)?;
    let connect_timeout = Duration::from_secs(args.database_connect_timeout_seconds);
    config.connect_timeout(connect_timeout);
    // The session limits ride on the startup packet, after any options of the URL's own.
    let limits = format!(
        "-c statement_timeout={} -c lock_timeout={}",
        args.database_statement_timeout_ms, args.database_lock_timeout_ms
    );
    let options = match config.get_options() {
        Some(own) if !own.is_empty() => format!("{own} {limits}"),
        _ => limits,
    };
    config.options(&options);
    let pool = build_pool(
        &config,
        args.database_max_conns as usize,
        Duration::from_secs(args.database_pool_timeout_seconds),
        connect_timeout,
    )?;
    let health = build_pool(&config, 1, HEALTH_BUDGET, HEALTH_BUDGET)?;
    let mut warm = Vec::new();
    for _ in 0..args.database_min_conns {
        warm.push(pool.get().await.map_err(StartupError::Connect)?);
    }
    Ok(Db {
        pool,
        health,
        config: Arc::new(config),
    })
}

/// A pool whose every wait is bounded: for a free connection, a new one, and a recycle check.
fn build_pool(
    config: &tokio_postgres::Config,
    size: usize,
    wait: Duration,
    create: Duration,
) -> Result<Pool, StartupError> {
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(create))
        .recycle_timeout(Some(create))
        .build()
        .map_err(StartupError::Pool)
}

/// Creates the extension, or updates it to the version installed on the server.
pub(crate) async fn migrate(args: &DatabaseArgs) -> Result<(), StartupError> {
    let db = connect(args).await?;
    let client = db.pool().get().await.map_err(StartupError::Connect)?;
    let result = client
        .batch_execute(
            "SET client_min_messages = warning;
             -- An update may build an index over every message: no request bounds here.
             SET statement_timeout = 0;
             SET lock_timeout = 0;
             CREATE EXTENSION IF NOT EXISTS psqlqueue;
             ALTER EXTENSION psqlqueue UPDATE;",
        )
        .await;
    result.map_err(|e| match e.as_db_error() {
        Some(db) if matches!(db.code().code(), "0A000" | "58P01") => {
            StartupError::ExtensionMissing(db.message().to_owned())
        }
        _ => StartupError::Migration(e),
    })
}
