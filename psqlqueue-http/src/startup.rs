//! Why `psqlqueue migrate`, `server` or `token` could not start or finish: one typed error, whose
//! message says what to fix. (Request errors are `error::ApiError`; these never reach a client.)

use std::fmt;

/// A start-up failure.
#[derive(Debug)]
pub(crate) enum StartupError {
    /// `PSQLQUEUE_DATABASE_URL` does not parse.
    DatabaseUrl(tokio_postgres::Error),
    /// More connections to open at start than the pool may hold.
    PoolSizes { min: u32, max: u32 },
    /// A body-read deadline longer than the request's own.
    BodyTimeout { body: u64, request: u64 },
    /// The pool could not be built.
    Pool(deadpool_postgres::BuildError),
    /// The database does not answer.
    Connect(deadpool_postgres::PoolError),
    /// The server has no psqlqueue extension to create (SQLSTATE 0A000 or 58P01).
    ExtensionMissing(String),
    /// `CREATE EXTENSION` or `ALTER EXTENSION ... UPDATE` failed.
    Migration(tokio_postgres::Error),
    /// A `psqlqueue token` command failed in the database (bad name or scope, unknown token).
    Token(tokio_postgres::Error),
    /// The metrics registry refused a metric (a bug).
    Metrics(prometheus::Error),
    /// A listening socket could not be opened.
    Bind {
        host: String,
        port: u16,
        source: std::io::Error,
    },
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::DatabaseUrl(e) => write!(f, "invalid PSQLQUEUE_DATABASE_URL: {e}"),
            StartupError::PoolSizes { min, max } => write!(
                f,
                "PSQLQUEUE_DATABASE_MIN_CONNS ({min}) exceeds PSQLQUEUE_DATABASE_MAX_CONNS ({max})"
            ),
            StartupError::BodyTimeout { body, request } => write!(
                f,
                "PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS ({body}) exceeds \
                 PSQLQUEUE_SERVER_REQUEST_TIMEOUT_SECONDS ({request})"
            ),
            StartupError::Pool(e) => write!(f, "cannot build the connection pool: {e}"),
            StartupError::Connect(e) => write!(f, "cannot connect to the database: {e}"),
            StartupError::ExtensionMissing(detail) => write!(
                f,
                "the psqlqueue extension is not installed on the database server ({detail}). \
                 Install it there first: `make install` on that machine, or run PostgreSQL from \
                 the image built with Dockerfile.postgres"
            ),
            StartupError::Migration(e) => match e.as_db_error() {
                Some(db) => write!(
                    f,
                    "migration failed: {} ({})",
                    db.message(),
                    db.code().code()
                ),
                None => write!(f, "migration failed: {e}"),
            },
            StartupError::Token(e) => match e.as_db_error() {
                Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
                None => write!(f, "token command failed: {e}"),
            },
            StartupError::Metrics(e) => write!(f, "metrics: {e}"),
            StartupError::Bind { host, port, source } => {
                write!(f, "cannot listen on {host}:{port}: {source}")
            }
        }
    }
}

impl std::error::Error for StartupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartupError::DatabaseUrl(e) | StartupError::Migration(e) | StartupError::Token(e) => {
                Some(e)
            }
            StartupError::Pool(e) => Some(e),
            StartupError::Connect(e) => Some(e),
            StartupError::Metrics(e) => Some(e),
            StartupError::Bind { source, .. } => Some(source),
            StartupError::PoolSizes { .. }
            | StartupError::BodyTimeout { .. }
            | StartupError::ExtensionMissing(_) => None,
        }
    }
}
