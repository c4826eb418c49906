//! Applies the declared streams file (`--streams-file`): reads it, asks `sm-declare` for the
//! plan against the store's streams, and executes it with the store's own create, update and
//! delete. Parsing, validation and the diff are `sm-declare`'s; this module only does the IO.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use sm_declare::{Current, CurrentState, Plan};
use tracing::{info, warn};

use crate::store::Store;

/// What the store holds now, as `sm-declare` needs it.
fn current(store: &Store) -> BTreeMap<String, Current> {
    store
        .streams()
        .into_iter()
        .filter_map(|s| {
            let definition = s.definition()?;
            let status = s.info().ok()?.storage_status;
            Some((
                s.name().to_owned(),
                Current {
                    definition,
                    state: CurrentState {
                        total_bytes: u64::try_from(status.total_bytes).unwrap_or(0),
                        newest_sequence_number: u64::try_from(status.newest_sequence_number).ok(),
                    },
                },
            ))
        })
        .collect()
}

/// Reads, checks and applies the file. A file that cannot be read, parsed, validated or
/// planned changes nothing and is the error. Failures while applying (a stream deleted
/// meanwhile, a full disk) are collected: every step is tried, and the first is returned.
pub fn apply(store: &Store, path: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the streams file {}", path.display()))?;
    let file = sm_declare::parse_streams_file(&path.display().to_string(), &text)?;
    let plan = sm_declare::plan(&file, &current(store))?;
    let mut first: Option<anyhow::Error> = None;
    let mut note = |what: &str, name: &str, r: Result<(), crate::store::StoreError>| {
        if let Err(e) = r {
            warn!(stream = %name, "streams file: {what} failed: {e}");
            first.get_or_insert_with(|| {
                anyhow::anyhow!("{}: {what} of stream {name:?} failed: {e}", path.display())
            });
        }
    };
    for d in &plan.create {
        note("creation", &d.name, store.create(d.clone()));
    }
    for d in &plan.update {
        note("update", &d.name, store.update(d.clone()));
    }
    for name in &plan.delete {
        warn!(stream = %name, "streams file: deleting a stream the file does not list (prune: true)");
        note("deletion", name, store.delete(name));
    }
    info!(
        file = %path.display(),
        created = plan.create.len(),
        updated = plan.update.len(),
        unchanged = plan.unchanged.len(),
        deleted = plan.delete.len(),
        "streams file applied"
    );
    match first {
        Some(e) => Err(e),
        None => Ok(plan),
    }
}
