//! Enums of the protocol. All are sent as CBOR/JSON integers except `Quality` (a string).
//!
//! The four enums of a stream definition ([`StrategyOnFull`], [`Persistence`],
//! [`ExportFormat`], [`StatusLevel`]) are always written as integers. Read from a binary format
//! (CBOR: the wire) they must be integers; read from a human-readable one (JSON, YAML: a
//! definition written by hand) they may also be their names, as the SDKs spell them
//! (`OverwriteOldestData`, `RAW_NOT_BATCHED`, `INFO`), compared without case and underscores.

use serde::de::Visitor as _;
use serde_repr::{Deserialize_repr, Serialize_repr};

/// What an append does when the stream is at `maxSize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr)]
#[repr(u8)]
pub enum StrategyOnFull {
    /// Refuse the append; nothing is written.
    RejectNewData = 0,
    /// Delete the oldest segments until the new message fits.
    OverwriteOldestData = 1,
}

/// Where a stream keeps its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr)]
#[repr(u8)]
pub enum Persistence {
    /// Segment files under the store root; survives restarts.
    File = 0,
    /// Memory only; never touches the disk.
    Memory = 1,
}

/// Body format of the HTTP exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr)]
#[repr(u8)]
pub enum ExportFormat {
    /// One POST per message, raw payload as the body.
    RawNotBatched = 0,
    /// One POST per batch, a JSON list of messages as the body.
    JsonBatched = 1,
}

/// Verbosity of the S3 status stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr)]
#[repr(u8)]
pub enum StatusLevel {
    /// Errors only.
    Error = 0,
    /// Warnings and errors.
    Warn = 1,
    /// The default.
    Info = 2,
    /// Debug.
    Debug = 3,
    /// Trace.
    Trace = 4,
}

/// Status codes of every response (`reference.md` §1.6). Never send a value outside 0..=18:
/// the Python client's read loop dies on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum ResponseStatusCode {
    /// Success.
    Success = 0,
    /// Unknown server failure.
    UnknownFailure = 1,
    /// Client not authorized.
    Unauthorized = 2,
    /// Invalid request (validation, duplicate stream, full stream).
    InvalidRequest = 3,
    /// Request payload too large.
    RequestPayloadTooLarge = 4,
    /// The stream does not exist.
    ResourceNotFound = 5,
    /// Server timeout.
    ServerTimeout = 6,
    /// The response would exceed the protocol maximum.
    ResponsePayloadTooLarge = 7,
    /// Unsupported connect version.
    UnsupportedConnectVersion = 8,
    /// An operation that is not expected at this point (e.g. a second Connect).
    UnexpectedOperation = 9,
    /// No common protocol version.
    UnsupportedProtocolVersion = 10,
    /// Malformed protocol version.
    InvalidProtocolVersion = 11,
    /// Failed to connect.
    FailedToConnect = 12,
    /// Fewer messages than `minMessageCount` are available.
    NotEnoughMessages = 13,
    /// The message store could not be read.
    MessageStoreReadError = 14,
    /// The server is out of memory.
    OutOfMemoryError = 15,
    /// The update failed.
    UpdateFailed = 16,
    /// The update changes something that cannot be changed.
    UpdateNotAllowed = 17,
    /// The operation is not known to the server.
    UnknownOperation = 18,
}

/// An enum of a stream definition: its values and their names.
pub trait NamedEnum: Sized + Copy + 'static {
    /// Every value with its name as the SDKs spell it.
    const VALUES: &'static [(Self, u8, &'static str)];
    /// What the enum is called in messages.
    const WHAT: &'static str;

    /// The value with this number.
    fn from_number(n: u64) -> Option<Self> {
        Self::VALUES
            .iter()
            .find(|(_, v, _)| u64::from(*v) == n)
            .map(|(e, _, _)| *e)
    }

    /// The value with this name, compared without case and underscores.
    fn from_name(name: &str) -> Option<Self> {
        let key = fold(name);
        Self::VALUES
            .iter()
            .find(|(_, _, n)| fold(n) == key)
            .map(|(e, _, _)| *e)
    }

    /// The SDK's name of this value.
    fn name(self) -> &'static str;

    /// The accepted values, for error messages: `OverwriteOldestData (1), …`.
    fn expected() -> String {
        Self::VALUES
            .iter()
            .map(|(_, v, n)| format!("{n} ({v})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

struct NamedVisitor<T>(std::marker::PhantomData<T>);

impl<T: NamedEnum> serde::de::Visitor<'_> for NamedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {}: one of {}", T::WHAT, T::expected())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        T::from_number(v).ok_or_else(|| {
            E::custom(format!(
                "invalid {} {v}, expected one of {}",
                T::WHAT,
                T::expected()
            ))
        })
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!(
                "invalid {} {v}, expected one of {}",
                T::WHAT,
                T::expected()
            ))),
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        T::from_name(v).ok_or_else(|| {
            E::custom(format!(
                "invalid {} {v:?}, expected one of {}",
                T::WHAT,
                T::expected()
            ))
        })
    }
}

fn deserialize_named<'de, D: serde::Deserializer<'de>, T: NamedEnum>(d: D) -> Result<T, D::Error> {
    if d.is_human_readable() {
        d.deserialize_any(NamedVisitor(std::marker::PhantomData))
    } else {
        let n = <u8 as serde::Deserialize>::deserialize(d)?;
        NamedVisitor(std::marker::PhantomData).visit_u64(u64::from(n))
    }
}

macro_rules! named_enum {
    ($t:ty, $what:literal, [$(($v:path, $name:literal)),+ $(,)?]) => {
        impl NamedEnum for $t {
            const VALUES: &'static [(Self, u8, &'static str)] = &[$(($v, $v as u8, $name)),+];
            const WHAT: &'static str = $what;

            fn name(self) -> &'static str {
                match self {
                    $($v => $name,)+
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_named(d)
            }
        }
    };
}

named_enum!(
    StrategyOnFull,
    "strategyOnFull",
    [
        (StrategyOnFull::RejectNewData, "RejectNewData"),
        (StrategyOnFull::OverwriteOldestData, "OverwriteOldestData"),
    ]
);
named_enum!(
    Persistence,
    "persistence",
    [(Persistence::File, "File"), (Persistence::Memory, "Memory")]
);
named_enum!(
    ExportFormat,
    "exportFormat",
    [
        (ExportFormat::RawNotBatched, "RAW_NOT_BATCHED"),
        (ExportFormat::JsonBatched, "JSON_BATCHED"),
    ]
);
named_enum!(
    StatusLevel,
    "statusLevel",
    [
        (StatusLevel::Error, "ERROR"),
        (StatusLevel::Warn, "WARN"),
        (StatusLevel::Info, "INFO"),
        (StatusLevel::Debug, "DEBUG"),
        (StatusLevel::Trace, "TRACE"),
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_takes_names_or_numbers() {
        for text in ["1", "\"OverwriteOldestData\"", "\"overwrite_oldest_data\""] {
            let v: StrategyOnFull = serde_json::from_str(text).unwrap();
            assert_eq!(v, StrategyOnFull::OverwriteOldestData, "{text}");
        }
        let v: ExportFormat = serde_json::from_str("\"RAW_NOT_BATCHED\"").unwrap();
        assert_eq!(v, ExportFormat::RawNotBatched);
        let v: StatusLevel = serde_json::from_str("\"Debug\"").unwrap();
        assert_eq!(v, StatusLevel::Debug);
        // Written as numbers, always.
        assert_eq!(serde_json::to_string(&Persistence::Memory).unwrap(), "1");
        let e = serde_json::from_str::<Persistence>("\"Disk\"").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid persistence \"Disk\", expected one of File (0), Memory (1)"),
            "{e}"
        );
        let e = serde_json::from_str::<Persistence>("7").unwrap_err();
        assert!(e.to_string().starts_with("invalid persistence 7"), "{e}");
        assert!(serde_json::from_str::<Persistence>("-1").is_err());
    }

    #[test]
    fn cbor_takes_numbers_only() {
        let mut buf = Vec::new();
        ciborium::into_writer(&1u8, &mut buf).unwrap();
        let v: StrategyOnFull = ciborium::from_reader(&buf[..]).unwrap();
        assert_eq!(v, StrategyOnFull::OverwriteOldestData);
        let mut buf = Vec::new();
        ciborium::into_writer("OverwriteOldestData", &mut buf).unwrap();
        assert!(ciborium::from_reader::<StrategyOnFull, _>(&buf[..]).is_err());
    }

    #[test]
    fn names_round_trip() {
        for (v, n, name) in StatusLevel::VALUES {
            assert_eq!(v.name(), *name);
            assert_eq!(StatusLevel::from_name(name), Some(*v));
            assert_eq!(StatusLevel::from_number(u64::from(*n)), Some(*v));
        }
    }
}
