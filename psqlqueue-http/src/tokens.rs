//! `psqlqueue token create | list | revoke`: the API's bearer tokens, managed in the database
//! by the extension's functions (which validate names and scopes and store only hashes).

use crate::config::{TokenArgs, TokenCommand};
use crate::db;
use crate::startup::StartupError;
use chrono::{DateTime, Utc};
use std::io::Write;

/// Runs one token command; what it prints goes to standard output.
pub(crate) async fn run(args: TokenArgs) -> Result<(), StartupError> {
    let db = db::connect(&args.database).await?;
    let client = db.pool().get().await.map_err(StartupError::Connect)?;
    let mut out = std::io::stdout().lock();
    match args.command {
        TokenCommand::Create { name, scopes } => {
            let row = client
                .query_one("SELECT psqlqueue.create_token($1, $2)", &[&name, &scopes])
                .await
                .map_err(StartupError::Token)?;
            let token: String = row.get(0);
            // The token alone on standard output, so scripts can capture it; it is not stored.
            let _ = writeln!(out, "{token}");
            eprintln!("token {name:?} created; it is shown only now: keep it in a secret store");
        }
        TokenCommand::List => {
            let rows = client
                .query("SELECT * FROM psqlqueue.list_tokens()", &[])
                .await
                .map_err(StartupError::Token)?;
            let _ = writeln!(out, "NAME\tSCOPES\tCREATED\tREVOKED");
            for row in rows {
                let name: String = row.get("name");
                let scopes: Vec<String> = row.get("scopes");
                let created: DateTime<Utc> = row.get("created_at");
                let revoked: Option<DateTime<Utc>> = row.get("revoked_at");
                let revoked = revoked.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
                let _ = writeln!(
                    out,
                    "{name}\t{}\t{}\t{revoked}",
                    scopes.join(","),
                    created.to_rfc3339()
                );
            }
        }
        TokenCommand::Revoke { name } => {
            client
                .execute("SELECT psqlqueue.revoke_token($1)", &[&name])
                .await
                .map_err(StartupError::Token)?;
            eprintln!("token {name:?} revoked; sidecars refuse it within a few seconds");
        }
    }
    Ok(())
}
