//! UpdateMessageStream rules (`reference.md` §3.5): a full replace of the definition, with
//! the constraints the reference documents.

use crate::defaults::StorageSettings;
use crate::definition::MessageStreamDefinition;
use crate::validate::ValidationError;

/// What the stream looks like now, for checking an update against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentState {
    /// Bytes the stream occupies now.
    pub total_bytes: u64,
    /// Newest sequence number, if any message was ever appended.
    pub newest_sequence_number: Option<u64>,
}

/// Checks that `new` (already validated) may replace `old`. The error is for
/// `UpdateNotAllowed`.
pub fn check_update(
    old: &MessageStreamDefinition,
    new: &MessageStreamDefinition,
    now: CurrentState,
) -> Result<(), ValidationError> {
    let o = StorageSettings::of(old);
    let n = StorageSettings::of(new);
    if o.persistence != n.persistence {
        return Err(ValidationError::new(format!(
            "persistence cannot be updated (stream {:?} is {:?}, update asks for {:?})",
            old.name, o.persistence, n.persistence
        )));
    }
    if n.max_size < now.total_bytes {
        return Err(ValidationError::new(format!(
            "maxSize {} is smaller than the stream's current size of {} bytes",
            n.max_size, now.total_bytes
        )));
    }
    // Only a changed size is held to the rule, so that re-sending a definition that create
    // accepted (say maxSize 1 MiB with the default 16 MiB segments) is not refused.
    if n.max_size != o.max_size && n.max_size < n.segment_size {
        return Err(ValidationError::new(format!(
            "maxSize {} must be at least streamSegmentSize {}",
            n.max_size, n.segment_size
        )));
    }
    if n.segment_size != o.segment_size && n.segment_size > n.max_size {
        return Err(ValidationError::new(format!(
            "streamSegmentSize {} must not exceed maxSize {}",
            n.segment_size, n.max_size
        )));
    }
    let old_ids: Vec<&str> = old.exports().iter().map(|e| e.identifier).collect();
    for e in new.exports() {
        let Some(start) = e.start_sequence_number else {
            continue;
        };
        // Only a changed or new start position is checked: an unchanged one was valid when set.
        let unchanged = old_ids.contains(&e.identifier)
            && old
                .exports()
                .iter()
                .any(|x| x.identifier == e.identifier && x.start_sequence_number == Some(start));
        if unchanged || start == 0 {
            continue;
        }
        let newest = now.newest_sequence_number.map_or(-1, |n| n as i64);
        if start > newest {
            return Err(ValidationError::new(format!(
                "startSequenceNumber {start} of export {:?} must not be after the newest sequence number ({newest})",
                e.identifier
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExportDefinition, HttpConfig, Persistence, StrategyOnFull};

    fn def() -> MessageStreamDefinition {
        MessageStreamDefinition {
            name: "s".into(),
            strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
            ..Default::default()
        }
    }
    const EMPTY: CurrentState = CurrentState {
        total_bytes: 0,
        newest_sequence_number: None,
    };

    #[test]
    fn persistence_is_immutable() {
        let mut n = def();
        n.persistence = Some(Persistence::Memory);
        assert!(check_update(&def(), &n, EMPTY)
            .unwrap_err()
            .message()
            .contains("persistence"));
        // File given explicitly equals the default.
        n.persistence = Some(Persistence::File);
        assert!(check_update(&def(), &n, EMPTY).is_ok());
    }

    #[test]
    fn max_size_bounds() {
        let mut n = def();
        n.max_size = Some(4096);
        let now = CurrentState {
            total_bytes: 5000,
            newest_sequence_number: Some(3),
        };
        assert!(check_update(&def(), &n, now).is_err());
        n.max_size = Some(1 << 20);
        n.stream_segment_size = Some(2 << 20);
        assert!(check_update(&def(), &n, EMPTY).is_err());
        n.stream_segment_size = Some(1 << 19);
        assert!(check_update(&def(), &n, now).is_ok());
    }

    #[test]
    fn unchanged_sizes_are_not_rechecked() {
        let mut d = def();
        d.max_size = Some(1 << 20);
        assert!(check_update(&d, &d.clone(), EMPTY).is_ok());
        let mut n = d.clone();
        n.stream_segment_size = Some(2 << 20);
        assert!(check_update(&d, &n, EMPTY)
            .unwrap_err()
            .message()
            .contains("streamSegmentSize"));
    }

    #[test]
    fn start_sequence_number_not_past_newest() {
        let mut n = def();
        n.export_definition = Some(ExportDefinition {
            http: vec![HttpConfig {
                identifier: "h".into(),
                uri: "http://x".into(),
                start_sequence_number: Some(10),
                ..Default::default()
            }],
            ..Default::default()
        });
        let now = CurrentState {
            total_bytes: 10,
            newest_sequence_number: Some(5),
        };
        assert!(check_update(&def(), &n, now).is_err());
        let now = CurrentState {
            total_bytes: 10,
            newest_sequence_number: Some(10),
        };
        assert!(check_update(&def(), &n, now).is_ok());
    }
}
