//! The data model of the stream manager protocol (`reference.md` §1.5, §2, Appendix A).
//!
//! This crate owns every type that crosses the wire or is persisted as a stream definition:
//! [`MessageStreamDefinition`] and its export configurations, the request and response
//! messages, the enums (sent as integers) and the [`ResponseStatusCode`]s. Field names are the
//! exact camelCase wire keys (note the SiteWise list key `IotSitewise`).
//!
//! It also owns the rules: [`validate`] checks a definition or request against the SDK's limits
//! and returns a [`ValidationError`] whose message names the field; [`defaults`] fills the
//! documented server defaults; [`update::check_update`] decides whether an update is allowed;
//! [`sitewise::parse_entry`] decodes and validates the JSON entries of SiteWise-exporting streams.
//!
//! Nothing here is driven: it is plain data and pure functions, called by `sm-wire` (decoding
//! requests), `sm-store` (validation, defaults, update rules), the export engine and the
//! clients.
//!
//! It is plain data: no IO, no clock, no environment. Every field a client may omit is an
//! `Option` (absent and `null` mean the same thing) and every list defaults to empty (absent and
//! `[]` mean the same thing), so that what the Python, Java and Node.js SDKs send all decodes.

pub mod defaults;
mod definition;
mod enums;
mod messages;
pub mod s3;
pub mod sitewise;
pub mod update;
pub mod validate;

pub use definition::*;
pub use enums::*;
pub use messages::*;
pub use validate::ValidationError;
