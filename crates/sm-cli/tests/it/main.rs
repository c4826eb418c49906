//! Integration tests of `smctl`: each subcommand runs as a process against the real release
//! daemon (`SM_BINARY`, else `target/release/stream-manager`) on a free loopback port with a
//! temporary store, and its output and exit status are checked.

mod commands;
mod daemon;
mod errors;
mod manage;
mod top;
