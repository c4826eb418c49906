//! Integration tests of `sm-client`: against the real release binary (`daemon`), and against
//! a scripted fake server for what the real one never answers (`fake`).

mod auth;
mod daemon;
mod errors;
mod fake;
mod ops;
mod pipelining;
mod reconnect;
