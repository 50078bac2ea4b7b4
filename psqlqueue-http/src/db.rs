//! The database: the connection pool, the one-statement query helpers every handler uses,
//! and `migrate`.

use crate::config::DatabaseArgs;
use crate::error::ApiError;
use crate::models::{Page, PageParams};
use crate::startup::StartupError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Status};
use std::str::FromStr;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

/// The pool, with the helpers that run one statement on a pooled connection.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    pool: Pool,
}

impl Db {
    /// The pool itself, for work that holds one connection across statements (the sweeper).
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
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
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, params).await?)
    }

    /// Runs one statement that returns exactly one row.
    pub(crate) async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, ApiError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query_one(&statement, params).await?)
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
    let config =
        tokio_postgres::Config::from_str(&args.database_url).map_err(StartupError::DatabaseUrl)?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    if args.database_min_conns > args.database_max_conns {
        return Err(StartupError::PoolSizes {
            min: args.database_min_conns,
            max: args.database_max_conns,
        });
    }
    let pool = Pool::builder(manager)
        .max_size(args.database_max_conns as usize)
        .build()
        .map_err(StartupError::Pool)?;
    let mut warm = Vec::new();
    for _ in 0..args.database_min_conns {
        warm.push(pool.get().await.map_err(StartupError::Connect)?);
    }
    Ok(Db { pool })
}

/// Creates the extension, or updates it to the version installed on the server.
pub(crate) async fn migrate(args: &DatabaseArgs) -> Result<(), StartupError> {
    let db = connect(args).await?;
    let client = db.pool().get().await.map_err(StartupError::Connect)?;
    let result = client
        .batch_execute(
            "SET client_min_messages = warning;
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
