//! The invite server's tests against the running server, over real HTTP
//! (and SMTP): each test starts a server in this process on ephemeral
//! loopback ports, over SQLite in a fresh folder or PostgreSQL in a fresh
//! schema.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    unreachable_pub,
    dead_code
)]

mod api;
mod binary;
mod common;
mod console;
mod console_scale;
mod deploy;
mod fuzz;
mod hooks;
mod landing;
mod load;
mod mail;
mod newcomers;
mod openapi;
mod procs;
mod public;
mod scale_out;
mod security;
mod shutdown;
mod story;
mod webhooks;
mod workflows;
