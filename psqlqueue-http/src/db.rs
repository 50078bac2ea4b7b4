//! The connection pool and `migrate`.

use crate::config::DatabaseArgs;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::str::FromStr;
use tokio_postgres::NoTls;

/// Builds the pool and opens `database_min_conns` connections, so the first requests do not
/// pay for connecting and a wrong URL fails at start-up.
pub async fn connect(args: &DatabaseArgs) -> Result<Pool, String> {
    let config = tokio_postgres::Config::from_str(&args.database_url)
        .map_err(|e| format!("invalid PSQLQUEUE_DATABASE_URL: {e}"))?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    if args.database_min_conns > args.database_max_conns {
        return Err(format!(
            "PSQLQUEUE_DATABASE_MIN_CONNS ({}) exceeds PSQLQUEUE_DATABASE_MAX_CONNS ({})",
            args.database_min_conns, args.database_max_conns
        ));
    }
    let pool = Pool::builder(manager)
        .max_size(args.database_max_conns as usize)
        .build()
        .map_err(|e| format!("cannot build the connection pool: {e}"))?;
    let mut warm = Vec::new();
    for _ in 0..args.database_min_conns {
        warm.push(
            pool.get()
                .await
                .map_err(|e| format!("cannot connect to the database: {e}"))?,
        );
    }
    Ok(pool)
}

/// Creates the extension, or updates it to the version installed on the server.
pub async fn migrate(args: &DatabaseArgs) -> Result<(), String> {
    let pool = connect(args).await?;
    let client = pool
        .get()
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    let result = client
        .batch_execute(
            "SET client_min_messages = warning;
             CREATE EXTENSION IF NOT EXISTS psqlqueue;
             ALTER EXTENSION psqlqueue UPDATE;",
        )
        .await;
    result.map_err(|e| match e.as_db_error() {
        Some(db) if matches!(db.code().code(), "0A000" | "58P01") => format!(
            "the psqlqueue extension is not installed on the database server ({}). Install it there \
             first: `make install` on that machine, or run PostgreSQL from the image built with \
             Dockerfile.postgres",
            db.message()
        ),
        Some(db) => format!("migration failed: {} ({})", db.message(), db.code().code()),
        None => format!("migration failed: {e}"),
    })
}
