//! Who may call what: bearer tokens (`PSQLQUEUE_AUTH=token`) and the scope each route needs.
//!
//! Tokens live in the extension (`psqlqueue.tokens`, only their SHA-256 hashes; created and
//! revoked with `psqlqueue token ...`); `psqlqueue.token_scopes` answers for one. The sidecar
//! keeps each answer for a few seconds (at most [`MAX_CACHE_SECONDS`]), so a busy client costs
//! one query per token per interval, and a revoked token stops working within that interval.
//! Which scope a route needs is the protocol's business, so it is decided here.

use crate::check_cache::CheckCache;
use crate::db::Db;
use crate::error::ApiError;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::{Method, header::AUTHORIZATION};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a token check is reused: revocation takes effect within this long.
pub(crate) const MAX_CACHE_SECONDS: u64 = 5;

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AuthMode {
    /// Every request is allowed (the original API's behaviour).
    None,
    /// Every route but the health checks needs `Authorization: Bearer <token>`.
    Token,
}

/// What a scope lets its holder do with a queue or topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send messages to a queue.
    Send,
    /// Receive, ack, nack and extend a queue's messages (and peek at them).
    Consume,
    /// Create, update, delete, purge, clean up and redrive queues; create and delete topics
    /// and subscriptions.
    Manage,
    /// Publish to a topic.
    Publish,
}

impl Action {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "send" => Some(Action::Send),
            "consume" => Some(Action::Consume),
            "manage" => Some(Action::Manage),
            "publish" => Some(Action::Publish),
            _ => None,
        }
    }
}

/// One scope of a token: `admin`, or an action on one queue or topic (`None`: on every one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    Admin,
    On(Action, Option<String>),
}

impl Scope {
    /// Reads a scope as the extension stores it (it validated the syntax); anything else grants
    /// nothing.
    fn parse(text: &str) -> Option<Self> {
        if text == "admin" {
            return Some(Scope::Admin);
        }
        let (action, name) = text.split_once(':')?;
        let name = (name != "*").then(|| name.to_owned());
        Some(Scope::On(Action::parse(action)?, name))
    }

    /// The scope as the extension stores it.
    fn name(&self) -> String {
        match self {
            Scope::Admin => "admin".to_owned(),
            Scope::On(action, name) => {
                let action = format!("{action:?}").to_lowercase();
                format!("{action}:{}", name.as_deref().unwrap_or("*"))
            }
        }
    }

    fn allows(&self, need: &Need) -> bool {
        match (self, need) {
            (Scope::Admin, _) | (_, Need::Handler) => true,
            (Scope::On(_, _), Need::Admin) => false,
            (Scope::On(action, name), Need::On(wanted, target)) => {
                wanted.contains(action) && name.as_deref().is_none_or(|n| n == target)
            }
            (Scope::On(action, name), Need::Every(wanted)) => {
                wanted.contains(action) && name.is_none()
            }
        }
    }
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Need {
    /// `admin`.
    Admin,
    /// One of these actions on this queue or topic.
    On(&'static [Action], String),
    /// One of these actions on every queue or topic (`ACTION:*`): lists show every name.
    Every(&'static [Action]),
    /// Decided by the handler, which reads the name from the body (or answers only what the
    /// caller may read): let any token in.
    Handler,
}

/// Who is calling: the scopes of their token, or everyone when auth is off.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    Anyone,
    Token(Arc<Vec<Scope>>),
}

impl Caller {
    /// The caller whose token holds these scopes (as the extension stores them; the SQS API's
    /// access keys carry their token's scopes).
    pub(crate) fn with_scopes(scopes: &[String]) -> Caller {
        Caller::Token(Arc::new(
            scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        ))
    }

    /// Refuses (403) unless the caller may do `action` on `name`.
    pub(crate) fn require(&self, action: Action, name: &str) -> Result<(), ApiError> {
        let need = Need::On(only(action), name.to_owned());
        self.check(&need)
    }

    /// Refuses (403) unless the caller may do one of `actions` on `name` ([`ANY_QUEUE`]: read
    /// a queue's settings or counts).
    pub(crate) fn require_any(
        &self,
        actions: &'static [Action],
        name: &str,
    ) -> Result<(), ApiError> {
        self.check(&Need::On(actions, name.to_owned()))
    }

    /// Refuses (403) unless the caller may do `action` on every queue or topic (`ACTION:*`),
    /// as listing them needs.
    pub(crate) fn require_every(&self, action: Action) -> Result<(), ApiError> {
        self.check(&Need::Every(only(action)))
    }

    /// Whether the caller may list every queue and topic (`manage:*`, as `GET /v1/queues`
    /// needs).
    pub(crate) fn may_list(&self) -> bool {
        self.require_every(Action::Manage).is_ok()
    }

    /// Whether the caller may read this queue's settings and counts.
    pub(crate) fn may_read_queue(&self, name: &str) -> bool {
        self.require_any(ANY_QUEUE, name).is_ok()
    }

    /// Whether the caller may read this topic.
    pub(crate) fn may_read_topic(&self, name: &str) -> bool {
        self.require_any(ANY_TOPIC, name).is_ok()
    }

    /// The caller's scopes as the extension spells them (`admin`, `manage:*`, `send:orders`);
    /// `None` when auth is off.
    pub(crate) fn scope_names(&self) -> Option<Vec<String>> {
        match self {
            Caller::Anyone => None,
            Caller::Token(scopes) => Some(scopes.iter().map(Scope::name).collect()),
        }
    }

    fn check(&self, need: &Need) -> Result<(), ApiError> {
        match (self, need) {
            (Caller::Anyone, _) | (_, Need::Handler) => Ok(()),
            (Caller::Token(scopes), need) if scopes.iter().any(|s| s.allows(need)) => Ok(()),
            (Caller::Token(_), need) => Err(ApiError::Forbidden(describe(need))),
        }
    }
}

/// Routes anyone may call: load balancers probe the health checks without a token, and the
/// dashboard's page and files hold no data (the page asks for a token itself).
const PUBLIC: &[&str] = &[
    "/healthz",
    "/v1/healthz",
    crate::ui::PAGE_ROUTES[0],
    crate::ui::PAGE_ROUTES[1],
    crate::ui::PAGE_ROUTES[2],
    crate::ui::PAGE_ROUTES[3],
];

/// The needs-table entry for one action.
fn only(action: Action) -> &'static [Action] {
    match action {
        Action::Send => SEND,
        Action::Consume => CONSUME,
        Action::Manage => MANAGE,
        Action::Publish => PUBLISH,
    }
}

/// The scope a refused request lacked, in the words the CLI's `--scope` takes.
fn describe(need: &Need) -> String {
    let names = |actions: &[Action]| {
        actions
            .iter()
            .map(|a| format!("{a:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(" or ")
    };
    match need {
        Need::Admin => "this route needs scope admin".to_owned(),
        Need::On(actions, name) => format!("this route needs scope {}:{name}", names(actions)),
        Need::Every(actions) => format!("this route needs scope {}:*", names(actions)),
        Need::Handler => String::new(),
    }
}

const SEND: &[Action] = &[Action::Send];
const CONSUME: &[Action] = &[Action::Consume];
const MANAGE: &[Action] = &[Action::Manage];
const PUBLISH: &[Action] = &[Action::Publish];
/// Reading a queue's settings or counts: anyone who works with it.
pub(crate) const ANY_QUEUE: &[Action] = &[Action::Send, Action::Consume, Action::Manage];
/// Reading a topic: its publishers and managers.
const ANY_TOPIC: &[Action] = &[Action::Publish, Action::Manage];
/// Reading a queue's messages without leasing them (`GET /v1/queues/{queue_id}/peek` and the
/// dashboard's peek): its consumers, who may receive them anyway, and its managers, who may
/// already move (redrive) or delete (purge) them.
const PEEK: &[Action] = &[Action::Consume, Action::Manage];

/// The scope each route needs, by its declared path and method; `param` reads a path
/// parameter. A route missing here needs `admin`, so a new route is closed until it is listed;
/// the routes in [`PUBLIC`] are let through before anyone asks.
fn need(method: &Method, path: &str, param: impl Fn(&str) -> Option<String>) -> Need {
    let queue = || param("queue_id").unwrap_or_default();
    let topic = || param("topic_id").unwrap_or_default();
    // axum answers HEAD with the GET handler, so HEAD needs what GET needs.
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    match (method, path) {
        ("GET", "/v1/queues") => Need::Every(MANAGE),
        ("POST", "/v1/queues" | "/v1/topics" | "/v1/subscriptions") => Need::Handler,
        ("GET", "/v1/queues/{queue_id}" | "/v1/queues/{queue_id}/stats") => {
            Need::On(ANY_QUEUE, queue())
        }
        (
            "PUT" | "DELETE",
            "/v1/queues/{queue_id}"
            | "/v1/queues/{queue_id}/purge"
            | "/v1/queues/{queue_id}/cleanup"
            | "/v1/queues/{queue_id}/redrive",
        ) => Need::On(MANAGE, queue()),
        ("POST", "/v1/queues/{queue_id}/messages" | "/v1/queues/{queue_id}/messages/batch") => {
            Need::On(SEND, queue())
        }
        ("GET", "/v1/queues/{queue_id}/messages") => Need::On(CONSUME, queue()),
        ("GET", "/v1/queues/{queue_id}/peek") => Need::On(PEEK, queue()),
        (
            "PUT",
            "/v1/queues/{queue_id}/messages/{message_id}/ack"
            | "/v1/queues/{queue_id}/messages/{message_id}/nack"
            | "/v1/queues/{queue_id}/messages/{message_id}/extend"
            | "/v1/queues/{queue_id}/messages/ack"
            | "/v1/queues/{queue_id}/messages/nack",
        ) => Need::On(CONSUME, queue()),
        ("GET", "/v1/topics") => Need::Every(MANAGE),
        ("GET", "/v1/topics/{topic_id}") => Need::On(ANY_TOPIC, topic()),
        ("DELETE", "/v1/topics/{topic_id}") => Need::On(MANAGE, topic()),
        ("POST", "/v1/topics/{topic_id}/messages") => Need::On(PUBLISH, topic()),
        // A subscription's id names neither its topic nor its queue.
        ("GET" | "DELETE", "/v1/subscriptions" | "/v1/subscriptions/{subscription_id}") => {
            Need::Every(MANAGE)
        }
        // The dashboard: the session answers any token its own scopes; the overview answers
        // only the queues and topics the caller may read (everything with `manage:*`).
        ("GET", "/ui/api/session" | "/ui/api/overview") => Need::Handler,
        ("GET", "/ui/api/queues/{queue_id}/history") => Need::On(ANY_QUEUE, queue()),
        ("GET", "/ui/api/queues/{queue_id}/peek") => Need::On(PEEK, queue()),
        _ => Need::Admin,
    }
}

/// The authenticator: the mode, and recent token checks keyed by the token's SHA-256.
#[derive(Debug)]
pub(crate) struct Auth {
    mode: AuthMode,
    ttl: Duration,
    db: Db,
    cache: CheckCache<[u8; 32], Option<Arc<Vec<Scope>>>>,
}

impl Auth {
    /// An authenticator over `db` that reuses a token's check for `ttl`.
    pub(crate) fn new(mode: AuthMode, ttl: Duration, db: Db) -> Self {
        Auth {
            mode,
            ttl,
            db,
            cache: CheckCache::new(ttl),
        }
    }

    /// How requests are authenticated.
    pub(crate) fn mode(&self) -> AuthMode {
        self.mode
    }

    /// How long a credential's check is reused (`PSQLQUEUE_AUTH_CACHE_SECONDS`).
    pub(crate) fn cache_ttl(&self) -> Duration {
        self.ttl
    }

    /// The scopes of a live token, `None` for an unknown or revoked one.
    async fn scopes(&self, token: &str) -> Result<Option<Arc<Vec<Scope>>>, ApiError> {
        // Not a token's shape (what create_token makes): unknown, without asking the database.
        if !well_formed(token) {
            return Ok(None);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let asked = Instant::now();
        let row = self
            .db
            .query_one("SELECT psqlqueue.token_scopes($1)", &[&token])
            .await?;
        let scopes = row
            .try_get::<_, Option<Vec<String>>>(0)
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map(|list| Arc::new(list.iter().filter_map(|s| Scope::parse(s)).collect()));
        self.cache.put(key, asked, scopes.clone());
        Ok(scopes)
    }
}

/// Whether `token` has the shape create_token gives every token: `pqq_` and 64 lowercase hex
/// digits.
fn well_formed(token: &str) -> bool {
    token.strip_prefix("pqq_").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The bearer token of a request: `Ok(None)` without an Authorization header.
fn bearer(request: &Request) -> Result<Option<&str>, ApiError> {
    let Some(value) = request.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| unauthorized())?;
    let (kind, token) = text.split_once(' ').ok_or_else(unauthorized)?;
    if !kind.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized());
    }
    Ok(Some(token.trim()))
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("send Authorization: Bearer <token> with a live token")
}

/// The middleware: finds the caller, refuses what their token may not do (401/403), and hands
/// the caller to handlers that decide from the body ([`Caller::require`]).
pub(crate) async fn authorize(
    State(auth): State<Arc<Auth>>,
    path: MatchedPath,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = match auth.mode {
        AuthMode::None => Caller::Anyone,
        AuthMode::Token if PUBLIC.contains(&path.as_str()) => Caller::Anyone,
        AuthMode::Token => {
            // Who is asking comes first: a caller without a live token learns nothing about
            // the path, not even that its parameters are malformed.
            let token = bearer(&request)?.ok_or_else(unauthorized)?;
            let scopes = auth.scopes(token).await?.ok_or_else(unauthorized)?;
            let params = params.map_err(|e| ApiError::Malformed(e.body_text()))?;
            let need = need(request.method(), path.as_str(), |name| {
                params
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_owned())
            });
            let caller = Caller::Token(scopes);
            caller.check(&need)?;
            caller
        }
    };
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod unit {
    use super::*;

    fn scopes(list: &[&str]) -> Caller {
        Caller::Token(Arc::new(
            list.iter().filter_map(|s| Scope::parse(s)).collect(),
        ))
    }

    fn need_of(method: Method, path: &str, queue: &str) -> Need {
        need(&method, path, |name| {
            matches!(name, "queue_id" | "topic_id").then(|| queue.to_owned())
        })
    }

    #[test]
    fn scopes_allow_their_action_on_their_name_or_every_name() {
        let send = need_of(Method::POST, "/v1/queues/{queue_id}/messages", "orders");
        assert!(scopes(&["send:orders"]).check(&send).is_ok());
        assert!(scopes(&["send:*"]).check(&send).is_ok());
        assert!(scopes(&["admin"]).check(&send).is_ok());
        assert!(scopes(&["send:other"]).check(&send).is_err());
        assert!(scopes(&["consume:orders"]).check(&send).is_err());
        assert!(scopes(&["manage:orders"]).check(&send).is_err());
        let list = need_of(Method::GET, "/v1/queues", "");
        assert!(scopes(&["manage:*"]).check(&list).is_ok());
        assert!(scopes(&["manage:orders"]).check(&list).is_err());
        assert!(Caller::Anyone.check(&list).is_ok());
    }

    #[test]
    fn the_dashboard_reads_what_the_v1_api_would_let_the_token_read() {
        let caller = scopes(&["send:orders", "manage:*", "publish:news"]);
        assert_eq!(
            caller.scope_names(),
            Some(vec![
                "send:orders".to_owned(),
                "manage:*".to_owned(),
                "publish:news".to_owned()
            ])
        );
        assert_eq!(Caller::Anyone.scope_names(), None);
        let narrow = scopes(&["send:orders", "publish:news"]);
        assert!(!narrow.may_list() && caller.may_list());
        assert!(narrow.may_read_queue("orders") && !narrow.may_read_queue("other"));
        assert!(narrow.may_read_topic("news") && !narrow.may_read_topic("orders"));
        let peek = need_of(Method::GET, "/ui/api/queues/{queue_id}/peek", "dlq");
        assert!(scopes(&["consume:dlq"]).check(&peek).is_ok());
        assert!(scopes(&["manage:dlq"]).check(&peek).is_ok());
        assert!(scopes(&["send:dlq"]).check(&peek).is_err());
        let overview = need_of(Method::GET, "/ui/api/overview", "");
        assert!(scopes(&["send:orders"]).check(&overview).is_ok());
    }

    #[test]
    fn peek_needs_consume_or_manage_on_its_queue() {
        let peek = need_of(Method::GET, "/v1/queues/{queue_id}/peek", "orders");
        assert_eq!(peek, Need::On(PEEK, "orders".to_owned()));
        assert!(scopes(&["consume:orders"]).check(&peek).is_ok());
        assert!(scopes(&["manage:orders"]).check(&peek).is_ok());
        assert!(scopes(&["consume:*"]).check(&peek).is_ok());
        assert!(scopes(&["send:orders"]).check(&peek).is_err());
        assert!(scopes(&["publish:orders"]).check(&peek).is_err());
        assert!(scopes(&["consume:other"]).check(&peek).is_err());
        let refused = scopes(&["send:orders"]).check(&peek);
        assert!(
            matches!(&refused, Err(ApiError::Forbidden(why)) if why.contains("consume or manage")),
            "{refused:?}"
        );
    }

    #[test]
    fn an_unlisted_route_needs_admin() {
        let unknown = need_of(Method::PATCH, "/v1/queues/{queue_id}", "orders");
        assert_eq!(unknown, Need::Admin);
        assert!(scopes(&["manage:*", "send:*"]).check(&unknown).is_err());
        assert!(scopes(&["admin"]).check(&unknown).is_ok());
    }

    #[test]
    fn only_token_shaped_strings_are_looked_up() {
        assert!(well_formed(&format!("pqq_{}", "0a".repeat(32))));
        assert!(!well_formed(&format!("pqq_{}", "0A".repeat(32))));
        assert!(!well_formed(&format!("pqq_{}", "0a".repeat(31))));
        assert!(!well_formed("pqq_madeup"));
        assert!(!well_formed(&"0a".repeat(34)));
    }

    #[test]
    fn head_needs_what_get_needs() {
        assert_eq!(
            need_of(Method::HEAD, "/v1/queues/{queue_id}", "orders"),
            need_of(Method::GET, "/v1/queues/{queue_id}", "orders")
        );
    }

    #[test]
    fn malformed_scopes_grant_nothing() {
        assert_eq!(Scope::parse("read:orders"), None);
        assert_eq!(Scope::parse("admin:orders"), None);
        assert_eq!(Scope::parse("send"), None);
    }
}
