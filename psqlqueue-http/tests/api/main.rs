//! The sidecar's black-box tests, one binary (zero-to-production's layout): each module starts
//! the real `psqlqueue server` against a throw-away database through `helpers`, and speaks HTTP.

mod auth;
mod bad_inputs;
mod bounds;
mod cli;
mod client;
mod errors;
mod group_commit;
mod helpers;
mod hostile;
mod leases;
mod long_poll;
mod operations;
mod producers;
mod rest;
mod slow_bodies;
mod sqs;
mod sweeper;
mod ui;
mod walkthrough;
