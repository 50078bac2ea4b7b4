//! Who is calling the SQS API. With `PSQLQUEUE_AUTH=none` anyone is (whatever credentials the
//! request carries, if any). With `token`, a request must carry a Signature V4 made with an
//! access key that `psqlqueue token create --sqs` or `psqlqueue token access-key` issued for a
//! live token; the caller then has that token's scopes, checked by each action as the REST API
//! checks them (`auth::Caller`).
//!
//! The extension's `psqlqueue.access_key` gives a key's secret and scopes; each answer is kept
//! for `PSQLQUEUE_AUTH_CACHE_SECONDS`, as the REST API keeps token checks, so a revoked token's
//! key stops working within that interval.

use super::error::{Code, SqsError};
use super::sigv4::{self, SignedRequest};
use crate::auth::{Auth, AuthMode, Caller};
use crate::check_cache::CheckCache;
use crate::db::Db;
use crate::error::ApiError;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::sync::Arc;
use std::time::Instant;

/// A live access key: its secret and the caller its token makes.
#[derive(Debug)]
struct Key {
    secret: String,
    caller: Caller,
}

/// The authenticator of the SQS API: the mode, and recent key lookups by key id.
#[derive(Debug)]
pub(crate) struct Credentials {
    mode: AuthMode,
    db: Db,
    cache: CheckCache<String, Option<Arc<Key>>>,
}

impl Credentials {
    /// Follows the REST API's authenticator: its mode and cache interval.
    pub(crate) fn new(auth: &Auth, db: Db) -> Credentials {
        Credentials {
            mode: auth.mode(),
            db,
            cache: CheckCache::new(auth.cache_ttl()),
        }
    }

    /// The caller of a request whose head is `parts` and body `body`.
    pub(crate) async fn authenticate(
        &self,
        parts: &Parts,
        body: &[u8],
    ) -> Result<Caller, SqsError> {
        if self.mode == AuthMode::None {
            return Ok(Caller::Anyone);
        }
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Err(SqsError::new(
                Code::MissingAuthenticationToken,
                "Request is missing Authentication Token: sign it with AWS Signature V4 and an \
                 access key from `psqlqueue token create --sqs`.",
            ));
        };
        let header = header.to_str().map_err(|_| {
            SqsError::new(
                Code::IncompleteSignature,
                "The Authorization header is not text.",
            )
        })?;
        let auth = sigv4::parse_authorization(header)?;
        let key = self.key(&auth.key_id).await?.ok_or_else(|| {
            SqsError::new(
                Code::InvalidClientTokenId,
                "The security token included in the request is invalid: no live token has this \
                 access key id.",
            )
        })?;
        let request = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body,
        };
        sigv4::verify(&auth, &request, &key.secret, chrono::Utc::now())?;
        Ok(key.caller.clone())
    }

    /// The live key `key_id`, `None` for an unknown one or one whose token is revoked.
    async fn key(&self, key_id: &str) -> Result<Option<Arc<Key>>, ApiError> {
        // Not a key's shape (what create_access_key makes): unknown, without asking.
        if !well_formed(key_id) {
            return Ok(None);
        }
        if let Some(hit) = self.cache.get(&key_id.to_owned()) {
            return Ok(hit);
        }
        let asked = Instant::now();
        let rows = self
            .db
            .query(
                "SELECT secret_access_key, scopes FROM psqlqueue.access_key($1)",
                &[&key_id],
            )
            .await?;
        let key = match rows.first() {
            Some(row) => {
                let secret: Option<String> = row
                    .try_get(0)
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                let scopes: Vec<String> = row
                    .try_get(1)
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                secret.map(|secret| {
                    Arc::new(Key {
                        secret,
                        caller: Caller::with_scopes(&scopes),
                    })
                })
            }
            None => None,
        };
        self.cache.put(key_id.to_owned(), asked, key.clone());
        Ok(key)
    }
}

/// Whether `key_id` has the shape create_access_key gives every key: `PQQA` and 16 uppercase
/// hex digits.
fn well_formed(key_id: &str) -> bool {
    key_id.strip_prefix("PQQA").is_some_and(|hex| {
        hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
    })
}

#[cfg(test)]
mod unit {
    use super::well_formed;

    #[test]
    fn only_key_shaped_ids_are_looked_up() {
        assert!(well_formed("PQQA0123456789ABCDEF"));
        assert!(!well_formed("PQQA0123456789abcdef"));
        assert!(!well_formed("AKIDEXAMPLE"));
        assert!(!well_formed("PQQA0123456789ABCDE"));
    }
}
