//! Definitions from `create` and `update` flags: pure edits of a [`MessageStreamDefinition`].

use sm_client::{
    ExportDefinition, ExportFormat, HttpConfig, KinesisConfig, MessageStreamDefinition,
    Persistence, StrategyOnFull,
};

use crate::cli::{DefinitionArgs, HttpFormatArg, PersistenceArg, StrategyArg};
use crate::CliError;

/// Splits `ID=VALUE` (the identifier may not be empty; the value may hold `=`).
fn id_value(flag: &str, v: &str) -> Result<(String, String), CliError> {
    match v.split_once('=') {
        Some((id, value)) if !id.is_empty() && !value.is_empty() => {
            Ok((id.to_owned(), value.to_owned()))
        }
        _ => Err(CliError(format!(
            "{flag} takes IDENTIFIER=VALUE, got {v:?}"
        ))),
    }
}

/// Sets the fields the flags name (the rest of `def` is kept). Exports given by flag replace
/// an export of the same kind and identifier, else are added.
pub fn apply(def: &mut MessageStreamDefinition, a: &DefinitionArgs) -> Result<(), CliError> {
    if let Some(p) = a.persistence {
        def.persistence = Some(match p {
            PersistenceArg::File => Persistence::File,
            PersistenceArg::Memory => Persistence::Memory,
        });
    }
    if let Some(v) = a.max_size {
        def.max_size = Some(v);
    }
    if let Some(v) = a.segment_size {
        def.stream_segment_size = Some(v);
    }
    if let Some(v) = a.ttl {
        def.time_to_live_millis = Some(v);
    }
    if let Some(s) = a.strategy {
        def.strategy_on_full = Some(match s {
            StrategyArg::RejectNewData => StrategyOnFull::RejectNewData,
            StrategyArg::OverwriteOldestData => StrategyOnFull::OverwriteOldestData,
        });
    }
    if let Some(v) = a.flush_on_write {
        def.flush_on_write = Some(v);
    }
    let given = !a.http_export.is_empty() || !a.kinesis_export.is_empty();
    if !given
        && (a.http_format.is_some()
            || a.batch_size.is_some()
            || a.batch_interval.is_some()
            || a.priority.is_some()
            || a.start_sequence_number.is_some())
    {
        return Err(CliError(
            "--http-format, --batch-size, --batch-interval, --priority and --start-sequence-number \
             apply to the exports given with --http-export or --kinesis-export"
                .into(),
        ));
    }
    if !given {
        return Ok(());
    }
    let exports = def
        .export_definition
        .get_or_insert_with(ExportDefinition::default);
    for v in &a.http_export {
        let (identifier, uri) = id_value("--http-export", v)?;
        let c = HttpConfig {
            identifier,
            uri,
            batch_size: a.batch_size,
            batch_interval_millis: a.batch_interval,
            priority: a.priority,
            start_sequence_number: a.start_sequence_number,
            disabled: None,
            export_format: a.http_format.map(|f| match f {
                HttpFormatArg::RawNotBatched => ExportFormat::RawNotBatched,
                HttpFormatArg::JsonBatched => ExportFormat::JsonBatched,
            }),
        };
        exports.http.retain(|x| x.identifier != c.identifier);
        exports.http.push(c);
    }
    for v in &a.kinesis_export {
        let (identifier, kinesis_stream_name) = id_value("--kinesis-export", v)?;
        let c = KinesisConfig {
            identifier,
            kinesis_stream_name,
            batch_size: a.batch_size,
            batch_interval_millis: a.batch_interval,
            priority: a.priority,
            start_sequence_number: a.start_sequence_number,
            disabled: None,
        };
        exports.kinesis.retain(|x| x.identifier != c.identifier);
        exports.kinesis.push(c);
    }
    Ok(())
}

/// Removes, disables and enables exports by identifier (whatever their kind). An identifier
/// the definition does not have is an error.
pub fn change_exports(
    def: &mut MessageStreamDefinition,
    remove: &[String],
    disable: &[String],
    enable: &[String],
) -> Result<(), CliError> {
    let known: Vec<String> = def
        .exports()
        .iter()
        .map(|e| e.identifier.to_owned())
        .collect();
    for id in remove.iter().chain(disable).chain(enable) {
        if !known.contains(id) {
            return Err(CliError(format!(
                "stream {:?} has no export {id:?} (it has: {})",
                def.name,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    let Some(e) = def.export_definition.as_mut() else {
        return Ok(());
    };
    let state = |id: &str| {
        if disable.iter().any(|x| x == id) {
            Some(Some(true))
        } else if enable.iter().any(|x| x == id) {
            Some(Some(false))
        } else {
            None
        }
    };
    macro_rules! each {
        ($list:expr) => {
            $list.retain(|c| !remove.contains(&c.identifier));
            for c in &mut $list {
                if let Some(d) = state(&c.identifier) {
                    c.disabled = d;
                }
            }
        };
    }
    each!(e.http);
    each!(e.kinesis);
    each!(e.iot_analytics);
    each!(e.iot_sitewise);
    each!(e.s3_task_executor);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> DefinitionArgs {
        DefinitionArgs::default()
    }

    #[test]
    fn flags_set_only_their_fields() {
        let mut d = MessageStreamDefinition {
            name: "s".into(),
            max_size: Some(4096),
            time_to_live_millis: Some(60_000),
            ..Default::default()
        };
        apply(
            &mut d,
            &DefinitionArgs {
                max_size: Some(8192),
                strategy: Some(StrategyArg::RejectNewData),
                flush_on_write: Some(true),
                ..args()
            },
        )
        .unwrap();
        assert_eq!(d.max_size, Some(8192));
        assert_eq!(d.time_to_live_millis, Some(60_000), "kept");
        assert_eq!(d.strategy_on_full, Some(StrategyOnFull::RejectNewData));
        assert_eq!(d.flush_on_write, Some(true));
        assert!(d.export_definition.is_none());
    }

    #[test]
    fn exports_by_flag_add_or_replace() {
        let mut d = MessageStreamDefinition::default();
        let a = DefinitionArgs {
            http_export: vec!["sink=http://127.0.0.1:1/a?x=1".into()],
            kinesis_export: vec!["k=my-stream".into()],
            http_format: Some(HttpFormatArg::JsonBatched),
            batch_size: Some(10),
            ..args()
        };
        apply(&mut d, &a).unwrap();
        apply(&mut d, &a).unwrap();
        let e = d.export_definition.as_ref().unwrap();
        assert_eq!(e.http.len(), 1, "the same identifier is replaced");
        assert_eq!(e.http[0].uri, "http://127.0.0.1:1/a?x=1");
        assert_eq!(e.http[0].export_format, Some(ExportFormat::JsonBatched));
        assert_eq!(e.kinesis[0].kinesis_stream_name, "my-stream");
        assert_eq!(e.kinesis[0].batch_size, Some(10));

        let bad = DefinitionArgs {
            http_export: vec!["=http://x".into()],
            ..args()
        };
        assert!(apply(&mut d, &bad)
            .unwrap_err()
            .0
            .contains("IDENTIFIER=VALUE"));
        let stray = DefinitionArgs {
            batch_size: Some(3),
            ..args()
        };
        assert!(apply(&mut d, &stray)
            .unwrap_err()
            .0
            .contains("apply to the exports"));
    }

    #[test]
    fn exports_removed_disabled_enabled_by_identifier() {
        let mut d = MessageStreamDefinition {
            name: "s".into(),
            ..Default::default()
        };
        apply(
            &mut d,
            &DefinitionArgs {
                http_export: vec!["a=http://x/".into(), "b=http://y/".into()],
                kinesis_export: vec!["c=k".into()],
                ..args()
            },
        )
        .unwrap();
        change_exports(&mut d, &["a".into()], &["b".into()], &["c".into()]).unwrap();
        let e = d.export_definition.as_ref().unwrap();
        assert_eq!(e.http.len(), 1);
        assert_eq!(e.http[0].disabled, Some(true));
        assert_eq!(e.kinesis[0].disabled, Some(false));
        let err = change_exports(&mut d, &["zz".into()], &[], &[]).unwrap_err();
        assert_eq!(err.0, "stream \"s\" has no export \"zz\" (it has: b, c)");
    }
}
