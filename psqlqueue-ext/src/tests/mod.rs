//! `#[pg_test]`s: each runs inside its own transaction of a throw-away cluster, which is
//! rolled back afterwards. pgrx calls them in schema `tests`, so every file's test module is
//! named `tests`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod checks;
mod dead_letter;
mod filters;
mod hardening;
mod lease;
mod message;
mod privileges;
mod pubsub;
mod queue;
mod support;
mod timing;
