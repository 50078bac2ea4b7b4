//! The web dashboard at `/ui` (issue 16): every queue's counts and the last hour of its depth,
//! throughput, topics with their subscriptions, a dead-letter view with peek and redrive, and
//! queue create and purge, in one hand-written page served from the binary.
//!
//! The numbers come from [`sampler`], which reads the database once per interval and keeps
//! the last hour in memory; the page reads them from `GET /ui/api/overview`, so browsers add
//! no database work. Changes (create, purge, redrive) go through the v1 API with the
//! browser's token, so they are authorised like any other client's.
//!
//! Routes: the page and its files are public (they hold no data); the JSON under `/ui/api`
//! is authorised by `auth::authorize` like the v1 routes (see `auth::need`).

mod api;
mod assets;
mod history;
mod sampler;

pub(crate) use sampler::{Samples, spawn};

use crate::state::AppState;
use axum::Router;
use axum::routing::get;
use tower_http::compression::CompressionLayer;

/// The page's routes (public; listed in `auth::PUBLIC`).
pub(crate) const PAGE_ROUTES: [&str; 4] = ["/ui", "/ui/app.js", "/ui/app.css", "/ui/icon.svg"];

/// The dashboard's routes. Answers are gzipped for browsers that ask: the overview of a
/// thousand queues is mostly repeated keys, and the page's first load must stay small.
pub(crate) fn router() -> Router<AppState> {
    let [page, script, style, icon] = PAGE_ROUTES;
    Router::new()
        .route(page, get(assets::index))
        .route(script, get(assets::script))
        .route(style, get(assets::style))
        .route(icon, get(assets::icon))
        .route("/ui/api/session", get(api::session))
        .route("/ui/api/overview", get(api::overview))
        .route("/ui/api/queues/{queue_id}/history", get(api::history))
        .route("/ui/api/queues/{queue_id}/peek", get(api::peek))
        .layer(CompressionLayer::new())
}
