//! `psqlqueue`: the REST sidecar of the psqlqueue PostgreSQL extension.
//! `psqlqueue migrate` creates or updates the extension; `psqlqueue server` serves the v1 API
//! (and the dashboard at `/ui`) and sweeps expired messages; `psqlqueue token` manages the
//! API's bearer tokens.

// The sidecar needs no unsafe code and must not panic on input; items are visible only within
// the crate (a binary has no public API).
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![warn(unreachable_pub)]

mod access_log;
mod app;
mod auth;
mod batch;
mod body_deadline;
mod check_cache;
mod cli;
mod config;
mod db;
mod error;
mod extract;
mod limits;
mod metrics;
mod models;
mod openapi;
mod routes;
mod server;
mod sqs;
mod startup;
mod state;
mod sweeper;
mod tokens;
mod ui;
mod wakeups;

use clap::Parser;
use config::{Cli, Command};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // A .env file (searched upward from the working directory) fills in unset variables.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // The client commands print data on stdout and errors as plain words on stderr: they get
    // no JSON logger (whose lines would mix with their output).
    if !matches!(cli.command, Command::Client(_)) {
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log_level))
            .init();
    }
    let result = match cli.command {
        Command::Migrate(database) => {
            tracing::info!("migration process started");
            let result = db::migrate(&database).await;
            if result.is_ok() {
                tracing::info!("migration process finished");
            }
            result
        }
        Command::Server(args) => server::run(args).await,
        // A command for people at a terminal: its errors go to stderr as plain words.
        Command::Token(args) => {
            return match tokens::run(args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("psqlqueue token: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Client(command) => return crate::cli::run(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
