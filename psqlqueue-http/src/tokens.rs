//! `psqlqueue token create | list | revoke | access-key`: the API's bearer tokens, managed in
//! the database by the extension's functions (which validate names and scopes and store only
//! hashes), and the AWS access keys the SQS API verifies signatures with (`create --sqs`, or
//! `access-key` for an existing token: a new key replaces the token's previous one, and
//! revoking the token revokes its key).

use crate::config::{TokenArgs, TokenCommand};
use crate::db;
use crate::startup::StartupError;
use chrono::{DateTime, Utc};
use std::io::Write;

/// Runs one token command; what it prints goes to standard output.
pub(crate) async fn run(args: TokenArgs) -> Result<(), StartupError> {
    let db = db::connect(&args.database).await?;
    let mut client = db.pool().get().await.map_err(StartupError::Connect)?;
    let mut out = std::io::stdout().lock();
    match args.command {
        TokenCommand::Create { name, scopes, sqs } => {
            // One transaction: with --sqs, a token is never left without the key asked for.
            let transaction = client.transaction().await.map_err(StartupError::Token)?;
            let row = transaction
                .query_one("SELECT psqlqueue.create_token($1, $2)", &[&name, &scopes])
                .await
                .map_err(StartupError::Token)?;
            let token: String = row.get(0);
            let key = if sqs {
                Some(access_key(&transaction, &name).await?)
            } else {
                None
            };
            transaction.commit().await.map_err(StartupError::Token)?;
            // The token alone on the first line of standard output, so scripts can capture
            // it; it is not stored.
            let _ = writeln!(out, "{token}");
            if let Some((id, secret)) = key {
                print_key(&mut out, &id, &secret);
            }
            eprintln!("token {name:?} created; it is shown only now: keep it in a secret store");
        }
        TokenCommand::AccessKey { name } => {
            let (id, secret) = access_key(&client, &name).await?;
            print_key(&mut out, &id, &secret);
            eprintln!(
                "access key for token {name:?} issued (any previous key of it no longer works); \
                 the secret is shown only now: keep it in a secret store"
            );
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

/// Issues token `name` a new access key (`psqlqueue.create_access_key`): its id and secret.
async fn access_key(
    client: &impl deadpool_postgres::GenericClient,
    name: &str,
) -> Result<(String, String), StartupError> {
    let row = client
        .query_one(
            "SELECT access_key_id, secret_access_key FROM psqlqueue.create_access_key($1)",
            &[&name],
        )
        .await
        .map_err(StartupError::Token)?;
    Ok((row.get(0), row.get(1)))
}

/// An access key as the AWS SDKs and CLI read it from the environment.
fn print_key(out: &mut impl Write, id: &str, secret: &str) {
    let _ = writeln!(out, "AWS_ACCESS_KEY_ID={id}");
    let _ = writeln!(out, "AWS_SECRET_ACCESS_KEY={secret}");
}
