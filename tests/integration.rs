//! End-to-end tests: each starts the real `corerecon` binary on a temporary data dir and
//! talks to it over sockets. One test binary, one link step; a folder per area.

mod common;

mod alerts;
mod auth;
mod incidents;
mod ingest;
mod ops;
mod packaging;
mod realtime;
mod store;
