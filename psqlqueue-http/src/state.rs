//! What every handler shares: the pool and the limits.

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::models::{Page, PageParams};
use deadpool_postgres::Pool;
use std::sync::Arc;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// Shared application state.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: Pool,
    /// Cap on a receive's `limit`.
    pub max_messages: i32,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// Runs one statement (prepared once per connection) and returns its rows.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ApiError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, params).await?)
    }

    /// Runs one statement that returns exactly one row.
    pub async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, ApiError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query_one(&statement, params).await?)
    }

    /// Runs a list function (`$1` offset, `$2` limit) for one page, defaults applied.
    pub async fn page<T: for<'r> From<&'r Row>>(
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
