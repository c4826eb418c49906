//! An in-memory executor of log plans: the storage of Memory streams, and the reference
//! store of the tests.

use std::collections::BTreeMap;

use crate::record::{record_header, segment_header};
use crate::{AppendPlan, ReadChunk, RecoveryAction, RetentionPlan};

/// Segment bytes kept in memory, keyed by base sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemorySegments {
    segments: BTreeMap<u64, Vec<u8>>,
}

impl MemorySegments {
    /// Executes the IO of an append plan (create, write, evict, in that order).
    pub fn execute_append(&mut self, plan: &AppendPlan, payload: &[u8]) {
        if let Some(base) = plan.retention.new_segment {
            self.segments.insert(base, segment_header(base).to_vec());
        }
        let seg = self.segments.entry(plan.segment).or_default();
        debug_assert_eq!(seg.len() as u64, plan.offset);
        seg.extend_from_slice(&record_header(plan.seq, plan.ingest_time, payload));
        seg.extend_from_slice(payload);
        for base in &plan.retention.evict {
            self.segments.remove(base);
        }
    }

    /// Executes a retention plan.
    pub fn execute_retention(&mut self, plan: &RetentionPlan) {
        if let Some(base) = plan.new_segment {
            self.segments.insert(base, segment_header(base).to_vec());
        }
        for base in &plan.evict {
            self.segments.remove(base);
        }
    }

    /// The bytes of a planned read chunk, or `None` if the segment or range is missing.
    pub fn read(&self, chunk: &ReadChunk) -> Option<&[u8]> {
        let seg = self.segments.get(&chunk.segment)?;
        let start = usize::try_from(chunk.offset).ok()?;
        let end = start.checked_add(usize::try_from(chunk.len).ok()?)?;
        seg.get(start..end)
    }

    /// All segments, oldest first.
    pub fn segments(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.segments.iter().map(|(b, v)| (*b, v.as_slice()))
    }

    /// One segment's bytes.
    pub fn segment(&self, base: u64) -> Option<&[u8]> {
        self.segments.get(&base).map(Vec::as_slice)
    }

    /// Bytes held.
    pub fn total_bytes(&self) -> u64 {
        self.segments.values().map(|v| v.len() as u64).sum()
    }

    /// Cuts a segment to `len` bytes (simulates a torn write; test and fuzz helper).
    pub fn truncate(&mut self, base: u64, len: usize) {
        if let Some(s) = self.segments.get_mut(&base) {
            s.truncate(len);
        }
    }

    /// Replaces a segment's bytes (test and fuzz helper).
    pub fn insert(&mut self, base: u64, bytes: Vec<u8>) {
        self.segments.insert(base, bytes);
    }

    /// Removes a segment (test and fuzz helper).
    pub fn remove(&mut self, base: u64) {
        self.segments.remove(&base);
    }

    /// Carries out recovery's repairs on these segments, as the runtime does on files (test
    /// and fuzz helper): cut torn tails, rewrite a lost header, delete, leave the rest.
    pub fn repair(&mut self, actions: &[RecoveryAction]) {
        for a in actions {
            match a {
                RecoveryAction::Truncate { segment, len } => self.truncate(*segment, *len as usize),
                RecoveryAction::RewriteHeader { segment } => {
                    self.truncate(*segment, 0);
                    self.execute_retention(&RetentionPlan {
                        new_segment: Some(*segment),
                        evict: vec![],
                    });
                }
                RecoveryAction::Delete { segment } => self.remove(*segment),
                RecoveryAction::Ignore { .. } | RecoveryAction::SealedDamage { .. } => {}
            }
        }
    }

    /// Flips bit `bit` (0..8) of one byte of a segment (simulates a bit flip).
    pub fn flip(&mut self, base: u64, at: usize, bit: u8) {
        if let Some(b) = self.segments.get_mut(&base).and_then(|s| s.get_mut(at)) {
            *b ^= 1 << (bit % 8);
        }
    }

    /// Flips the low bit of one byte of a segment (simulates a bit flip).
    pub fn corrupt(&mut self, base: u64, at: usize) {
        if let Some(b) = self.segments.get_mut(&base).and_then(|s| s.get_mut(at)) {
            *b ^= 1;
        }
    }
}
