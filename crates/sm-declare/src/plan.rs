//! The plan that brings a store in line with a streams file.

use std::collections::BTreeMap;

use sm_model::defaults::filled;
use sm_model::update::{check_update, CurrentState};
use sm_model::MessageStreamDefinition;

use crate::{DeclareError, StreamsFile};

/// A stream as the store holds it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    /// Its definition as stored.
    pub definition: MessageStreamDefinition,
    /// Its size and newest sequence number, for the update rules.
    pub state: CurrentState,
}

/// What to do, in this order: create, update, delete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Streams the file lists and the store does not have.
    pub create: Vec<MessageStreamDefinition>,
    /// Streams whose definition differs (defaults filled on both sides before comparing).
    pub update: Vec<MessageStreamDefinition>,
    /// Streams already as declared.
    pub unchanged: Vec<String>,
    /// With `prune: true` only: streams the store has and the file does not list.
    pub delete: Vec<String>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The plan for `file` against the streams the store holds now. An update that
/// UpdateMessageStream would refuse (a changed persistence, a maxSize below the stored bytes,
/// …) is an error naming the stream's line, and then nothing is planned at all.
pub fn plan(file: &StreamsFile, current: &BTreeMap<String, Current>) -> Result<Plan, DeclareError> {
    let mut p = Plan::default();
    for d in &file.streams {
        let def = &d.definition;
        match current.get(&def.name) {
            None => p.create.push(def.clone()),
            Some(c) if filled(&c.definition) == filled(def) => p.unchanged.push(def.name.clone()),
            Some(c) => {
                check_update(&c.definition, def, c.state).map_err(|e| DeclareError {
                    file: file.file.clone(),
                    line: Some(d.line),
                    field: Some(format!("stream {:?}", def.name)),
                    message: format!("cannot be updated: {} (UpdateNotAllowed)", e.message()),
                })?;
                p.update.push(def.clone());
            }
        }
    }
    if file.prune {
        p.delete = current
            .keys()
            .filter(|n| !file.streams.iter().any(|d| &d.definition.name == *n))
            .cloned()
            .collect();
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_streams_file;
    use sm_model::Persistence;

    fn current(def: MessageStreamDefinition, bytes: u64) -> Current {
        Current {
            definition: def,
            state: CurrentState {
                total_bytes: bytes,
                newest_sequence_number: None,
            },
        }
    }

    fn def(name: &str) -> MessageStreamDefinition {
        MessageStreamDefinition {
            name: name.into(),
            strategy_on_full: Some(sm_model::StrategyOnFull::OverwriteOldestData),
            ..Default::default()
        }
    }

    const FILE: &str = "streams:\n  - name: a\n    strategyOnFull: OverwriteOldestData\n  - name: b\n    strategyOnFull: OverwriteOldestData\n    maxSize: 2048\n    streamSegmentSize: 1024\n  - name: c\n    strategyOnFull: 1\n";

    #[test]
    fn creates_updates_and_leaves_the_rest() {
        let f = parse_streams_file("s.yaml", FILE).unwrap();
        let mut cur = BTreeMap::new();
        // `a` as stored by the daemon: the same, with defaults spelt out.
        cur.insert("a".to_owned(), current(filled(&def("a")), 0));
        cur.insert("b".to_owned(), current(def("b"), 0));
        cur.insert("other".to_owned(), current(def("other"), 0));
        let p = plan(&f, &cur).unwrap();
        assert_eq!(
            p.create.iter().map(|d| &d.name[..]).collect::<Vec<_>>(),
            ["c"]
        );
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].max_size, Some(2048));
        assert_eq!(p.unchanged, ["a"]);
        assert!(
            p.delete.is_empty(),
            "no prune: other streams are left alone"
        );
    }

    #[test]
    fn prune_deletes_exactly_the_unlisted() {
        let f = parse_streams_file("s.yaml", &format!("prune: true\n{FILE}")).unwrap();
        let mut cur = BTreeMap::new();
        for n in ["a", "zz", "other"] {
            cur.insert(n.to_owned(), current(def(n), 0));
        }
        let p = plan(&f, &cur).unwrap();
        assert_eq!(p.delete, ["other", "zz"]);
        assert_eq!(p.create.len(), 2);
    }

    #[test]
    fn a_refused_update_plans_nothing() {
        let f = parse_streams_file("s.yaml", FILE).unwrap();
        let mut cur = BTreeMap::new();
        cur.insert(
            "a".to_owned(),
            current(
                MessageStreamDefinition {
                    persistence: Some(Persistence::Memory),
                    ..def("a")
                },
                0,
            ),
        );
        // `b` holds more than the file's maxSize.
        let e = plan(&f, &cur).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.to_string().starts_with(
                "s.yaml:2: stream \"a\": cannot be updated: persistence cannot be updated"
            ),
            "{e}"
        );
        let mut cur = BTreeMap::new();
        cur.insert("b".to_owned(), current(def("b"), 4096));
        let e = plan(&f, &cur).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(
            e.message
                .contains("maxSize 2048 is smaller than the stream's current size of 4096 bytes"),
            "{e}"
        );
    }
}
